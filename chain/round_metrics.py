"""The auditor's reading of a round's metrics artifact: which on-chain updates the model covers.

`finalizeRound` names how many updates the aggregator considered and the contract refuses any other
number than the round's update count, so every update on chain was read by the aggregator. Its
metrics artifact (`metricsCid`, format `consentfl.round-metrics/1`, written by the aggregator in
`fl/`, which `chain/` may not import) lists each considered update as aggregated (`accepted`) or
`rejected` with a reason. The check here ties the two: the hospitals listed there are exactly the
hospitals of the round's updates on chain, each once, and every aggregated update's weight
(`num_patients`) is the patient count the contract bounded and recorded for it (issue 11, H3:
a weight the chain did not bound, or a chain count the metrics do not use, is a failure).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from chain.round_ledger import Round, UpdateRecord
from chain.store import ArtifactNotFoundError, ArtifactStore, CorruptArtifactError, InvalidCidError

__all__ = ["METRICS_FORMAT", "AggregationFinding", "check_aggregation"]

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


def _weight_mismatches(accepted: list[Any], updates: Sequence[UpdateRecord]) -> list[str]:
    chain_count = {u.hospital.lower(): u.num_patients for u in updates}
    problems = []
    for entry in accepted:
        hospital = str(entry["hospital"]).lower()
        weight = entry.get("num_patients") if isinstance(entry, dict) else None
        if weight != chain_count.get(hospital):
            problems.append(
                f"{entry['hospital']} aggregated with weight {weight!r}, but its on-chain "
                f"patient count is {chain_count.get(hospital)}"
            )
    return problems


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
    weights = _weight_mismatches(body["accepted"], updates)
    if weights:
        return AggregationFinding(False, "; ".join(weights))
    return AggregationFinding(
        True,
        f"all {len(updates)} update(s) on chain were considered: {len(accepted)} aggregated, "
        f"{len(rejected)} rejected",
    )
