"""The auditor's reading of a round's metrics artifact: which on-chain updates the model covers.

`finalizeRound` names how many updates the aggregator considered and the contract refuses any other
number than the round's update count, so every update on chain was read by the aggregator. Its
metrics artifact (`metricsCid`, format `consentfl.round-metrics/1`, written by the aggregator in
`fl/`, which `chain/` may not import) lists each considered update as aggregated (`accepted`) or
`rejected` with a reason. The check here ties the two: the hospitals listed there are exactly the
hospitals of the round's updates on chain, each once.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from chain.round_ledger import Round, UpdateRecord
from chain.store import ArtifactNotFoundError, ArtifactStore, CorruptArtifactError, InvalidCidError

__all__ = [
    "METRICS_FORMAT",
    "AggregationFinding",
    "RoundJudgementView",
    "check_aggregation",
    "cumulative_values",
    "read_judgement",
]

METRICS_FORMAT: Final = "consentfl.round-metrics/1"


@dataclass(frozen=True, slots=True)
class AggregationFinding:
    """Whether a finalized round's metrics account for every update on chain, and how."""

    passed: bool
    detail: str


def _hospitals(body: dict[str, Any], key: str) -> list[str]:
    entries = body[key]
    if not isinstance(entries, list):
        raise TypeError(f"{key} is not a list")
    return [str(entry["hospital"]).lower() for entry in entries]


def _shown(hospitals: Counter[str]) -> str:
    return ", ".join(sorted(hospitals.elements()))


def check_aggregation(
    store: ArtifactStore, round_: Round, updates: Sequence[UpdateRecord]
) -> AggregationFinding:
    """Compare the metrics artifact of finalized `round_` with its on-chain `updates`.

    An unreadable artifact is a failed finding; `StoreUnavailableError` (node down) is raised.
    """
    try:
        metrics = store.get(round_.metrics_cid)
    except (ArtifactNotFoundError, CorruptArtifactError, InvalidCidError) as exc:
        return AggregationFinding(False, f"metrics artifact unreadable: {exc}")
    try:
        body = json.loads(metrics)
        if not isinstance(body, dict) or body.get("format") != METRICS_FORMAT:
            raise ValueError("not a round-metrics document")
        accepted = _hospitals(body, "accepted")
        rejected = _hospitals(body, "rejected")
        listed_round = body["round"]
    except (ValueError, KeyError, TypeError) as exc:
        return AggregationFinding(False, f"metrics artifact is not {METRICS_FORMAT}: {exc}")
    if listed_round != round_.round:
        return AggregationFinding(False, f"metrics artifact is for round {listed_round}")
    on_chain = Counter(u.hospital.lower() for u in updates)
    listed = Counter(accepted + rejected)
    if listed != on_chain:
        problems = []
        if unlisted := on_chain - listed:
            problems.append(f"on chain but neither aggregated nor rejected: {_shown(unlisted)}")
        if extra := listed - on_chain:
            problems.append(f"listed without a matching update on chain: {_shown(extra)}")
        return AggregationFinding(False, "; ".join(problems))
    return AggregationFinding(
        True,
        f"all {len(updates)} update(s) on chain were considered: {len(accepted)} aggregated, "
        f"{len(rejected)} rejected",
    )


@dataclass(frozen=True, slots=True)
class RoundJudgementView:
    """What a round's metrics say about each aggregated update: the strategy's decisions and the
    contribution values (`None` when the plan names no valuation). Read as JSON: the auditor's
    recomputation of them from the updates needs torch and lives in `fl.roles.recheck`."""

    round: int
    decisions: tuple[dict[str, Any], ...]
    contributions: dict[str, Any] | None


def read_judgement(store: ArtifactStore, round_: Round) -> RoundJudgementView | None:
    """The decisions and values in finalized `round_`'s metrics (CID-checked by the store), or
    None when the artifact is unreadable or predates them."""
    if not round_.metrics_cid:
        return None
    try:
        body = json.loads(store.get(round_.metrics_cid))
        decisions = body.get("decisions")
        if body.get("format") != METRICS_FORMAT or not isinstance(decisions, list):
            return None
        contributions = body.get("contributions")
        return RoundJudgementView(
            round_.round,
            tuple(dict(d) for d in decisions),
            dict(contributions) if isinstance(contributions, dict) else None,
        )
    except (ArtifactNotFoundError, CorruptArtifactError, InvalidCidError, ValueError, TypeError):
        return None


def cumulative_values(views: Sequence[RoundJudgementView]) -> dict[str, float]:
    """Each hospital's contribution values summed over `views` (what a reward would pay on)."""
    totals: dict[str, float] = {}
    for view in views:
        for entry in (view.contributions or {}).get("values", []):
            hospital = str(entry["hospital"])
            totals[hospital] = totals.get(hospital, 0.0) + float(entry["value"])
    return totals
