"""The auditor's reading of a round's metrics artifact: which on-chain updates the model covers.

`finalizeRound` names how many updates the aggregator considered and the contract refuses any other
number than the round's update count, so every update on chain was read by the aggregator. Its
metrics artifact (`metricsCid`, format `consent.formats.round_metrics`, the same definition the
aggregator in `fl/` writes with) lists each considered update as aggregated (`accepted`) or
`rejected` with a reason, and, from version 2 on, the strategy's decision per update. The check
here ties them: the hospitals listed are exactly the hospitals of the round's updates on chain,
each once; every aggregated update's weight (`num_patients`) is the patient count the contract
bounded and recorded for it (issue 11, H3: a weight the chain did not bound, or a chain count the
metrics do not use, is a failure); and every decision matches the lists (kept exactly the
aggregated ones, a rejected update with weight 0 and a reason, the kept weights summing to 1).

`read_judgement` reads the decisions and the contribution values (`extensions["contributions"]`,
issue 15) for the rounds endpoint and `study show`; `cumulative_values` sums the values over
rounds. Recomputing them from the updates needs torch and lives in `fl.roles.recheck`.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chain.store import (
    ArtifactNotFoundError,
    ArtifactReader,
    CorruptArtifactError,
    InvalidCidError,
)
from consent.formats import FormatError
from consent.formats.round_metrics import CONTRIBUTIONS, METRICS, METRICS_FORMAT, RoundMetrics
from consent.records import RoundRecord
from consent.rounds import UpdateRecord

__all__ = [
    "METRICS_FORMAT",
    "AggregationFinding",
    "RoundJudgementView",
    "check_aggregation",
    "cumulative_values",
    "read_judgement",
]


@dataclass(frozen=True, slots=True)
class AggregationFinding:
    """Whether a finalized round's metrics account for every update on chain, and how."""

    passed: bool
    detail: str


def _shown(hospitals: Counter[str]) -> str:
    return ", ".join(sorted(hospitals.elements()))


def _weight_mismatches(
    accepted: Sequence[tuple[str, int | None]], updates: Sequence[UpdateRecord]
) -> list[str]:
    chain_count = {u.hospital.lower(): u.num_patients for u in updates}
    problems = []
    for hospital, weight in accepted:
        if weight != chain_count.get(hospital.lower()):
            problems.append(
                f"{hospital} aggregated with weight {weight!r}, but its on-chain "
                f"patient count is {chain_count.get(hospital.lower())}"
            )
    return problems


def check_aggregation(store: ArtifactReader, round_: RoundRecord) -> AggregationFinding:
    """Compare the metrics artifact of finalized `round_` with its on-chain updates.

    An unreadable artifact is a failed finding; `StoreUnavailableError` (node down) is raised.
    """
    try:
        metrics = store.get(round_.metrics_cid)
    except (ArtifactNotFoundError, CorruptArtifactError, InvalidCidError) as exc:
        return AggregationFinding(False, f"metrics artifact unreadable: {exc}")
    try:
        body = RoundMetrics.from_json_bytes(metrics)
    except FormatError as exc:
        return AggregationFinding(False, f"metrics artifact is not {METRICS.name}: {exc}")
    if body.round != round_.round:
        return AggregationFinding(False, f"metrics artifact is for round {body.round}")
    accepted = [h.lower() for h, _ in body.accepted]
    rejected = [h.lower() for h, _ in body.rejected]
    updates = round_.updates
    on_chain = Counter(u.hospital.lower() for u in updates)
    listed = Counter(accepted + rejected)
    if listed != on_chain:
        problems = []
        if unlisted := on_chain - listed:
            problems.append(f"on chain but neither aggregated nor rejected: {_shown(unlisted)}")
        if extra := listed - on_chain:
            problems.append(f"listed without a matching update on chain: {_shown(extra)}")
        return AggregationFinding(False, "; ".join(problems))
    if weights := _weight_mismatches(body.accepted, updates):
        return AggregationFinding(False, "; ".join(weights))
    if body.version >= 2 and (problem := _decisions_problem(body, Counter(accepted))):
        return AggregationFinding(False, problem)
    return AggregationFinding(
        True,
        f"all {len(updates)} update(s) on chain were considered: {len(accepted)} aggregated, "
        f"{len(rejected)} rejected",
    )


def _decisions_problem(body: RoundMetrics, accepted: Counter[str]) -> str | None:
    """Why the strategy's decisions disagree with the aggregated / rejected lists, or None."""
    kept = Counter(d.hospital.lower() for d in body.decisions if d.kept)
    dropped = Counter(d.hospital.lower() for d in body.decisions if not d.kept)
    if kept != accepted:
        return f"decisions keep {_shown(kept) or 'none'}, aggregated {_shown(accepted) or 'none'}"
    if dropped + kept != accepted + Counter(h.lower() for h, _ in body.rejected):
        return "decisions do not cover every considered update exactly once"
    if any(d.weight != 0 or not d.reason for d in body.decisions if not d.kept):
        return "a rejected update has a weight or no reason"
    weights = [d.weight for d in body.decisions if d.kept]
    if any(not math.isfinite(w) or w < 0 for w in weights) or (
        weights and not math.isclose(math.fsum(weights), 1.0, abs_tol=1e-9)
    ):
        return f"kept weights are not a distribution (sum {math.fsum(weights)!r})"
    return None


@dataclass(frozen=True, slots=True)
class RoundJudgementView:
    """What a round's metrics say about each aggregated update: the strategy's decisions and the
    contribution values (`None` when the plan names no valuation). Read as JSON: the auditor's
    recomputation of them from the updates needs torch and lives in `fl.roles.recheck`."""

    round: int
    decisions: tuple[dict[str, Any], ...]
    contributions: dict[str, Any] | None


def read_judgement(store: ArtifactReader, round_: RoundRecord) -> RoundJudgementView | None:
    """The decisions and values in finalized `round_`'s metrics (CID-checked by the store), or
    None when the artifact is unreadable or predates them (version 1, or no decisions)."""
    if not round_.metrics_cid:
        return None
    try:
        body = RoundMetrics.from_json_bytes(store.get(round_.metrics_cid))
    except (ArtifactNotFoundError, CorruptArtifactError, InvalidCidError, FormatError):
        return None
    if body.version < 2 or not body.decisions:
        return None
    contributions = body.extensions.get(CONTRIBUTIONS)
    return RoundJudgementView(
        round_.round,
        tuple(d.to_json_dict() for d in body.decisions),
        dict(contributions) if isinstance(contributions, Mapping) else None,
    )


def cumulative_values(views: Sequence[RoundJudgementView]) -> dict[str, float]:
    """Each hospital's contribution values summed over `views` (what a reward would pay on)."""
    totals: dict[str, float] = {}
    for view in views:
        for entry in (view.contributions or {}).get("values", []):
            hospital = str(entry["hospital"])
            totals[hospital] = totals.get(hospital, 0.0) + float(entry["value"])
    return totals
