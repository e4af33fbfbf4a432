"""The auditor's recomputation of a round's decisions and contribution values from its updates.

The round metrics (`metricsCid`, committed on chain by its CID) say which updates the strategy
kept, with what weight, and what each hospital's contribution was. `recheck_round` redoes that
work from the artifacts the chain points to: the base model (checked against its on-chain hash),
every aggregated update (fetched by CID, checked against its on-chain hash, unsealed), the plan
(the study's metadata) and the validation rows the aggregator values updates on. It re-runs
`fl.roles.judging.judge_round` and compares, within `TOLERANCE`, every decision and value, and
the model's hash. It needs what the aggregator has: the study's seal key (updates are sealed to
it; an auditor of a `sealed` study holds it) and the validation rows. A lie in the metrics
(a decision or value changed, an update dropped or invented) or a model that is not the
strategy's result is a failed finding.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from torch import Tensor

from consent.ids import StudyId
from consent.sealing import open_sealed
from fl.data import Examples
from fl.ports import ArtifactStorePort, RoundRecord
from fl.roles.errors import BaseModelMismatchError
from fl.roles.judging import RoundJudgement, judge_round
from fl.roles.plan import StudyPlan
from fl.roles.trainer import sha256
from fl.serialize import bytes_to_state_dict, state_dict_to_bytes
from fl.strategy import ClientUpdate

__all__ = ["TOLERANCE", "RecheckFinding", "recheck_round"]

TOLERANCE: Final = 1e-6


@dataclass(frozen=True, slots=True)
class RecheckFinding:
    """Whether round `round`'s decisions, values and model are what its updates give."""

    study: StudyId
    round: int
    passed: bool
    detail: str


def _fetch(store: ArtifactStorePort, cid: str, expected: bytes) -> bytes:
    data = store.get(cid)
    if sha256(data) != bytes(expected):
        raise BaseModelMismatchError(cid, bytes(expected), sha256(data))
    return data


def _compare_decisions(listed: Sequence[Mapping[str, Any]], got: RoundJudgement) -> list[str]:
    problems = []
    if [str(d["hospital"]).lower() for d in listed] != [d.client_id.lower() for d in got.decisions]:
        return ["the decisions do not list the aggregated updates in order"]
    for entry, decision in zip(listed, got.decisions, strict=True):
        if bool(entry["kept"]) != decision.kept:
            problems.append(
                f"{decision.client_id}: kept is {entry['kept']}, recomputed {decision.kept}"
            )
        if abs(float(entry["weight"]) - decision.weight) > TOLERANCE:
            problems.append(
                f"{decision.client_id}: weight {entry['weight']}, recomputed {decision.weight:.9f}"
            )
    return problems


def _compare_values(listed: Mapping[str, Any] | None, got: RoundJudgement) -> list[str]:
    if got.contributions is None:
        return [] if listed is None else ["values listed but the plan names no valuation"]
    if listed is None:
        return ["the plan names a valuation but the metrics list no values"]
    expected = got.contributions
    entries = listed["values"]
    if [str(e["hospital"]).lower() for e in entries] != [p.lower() for p in expected.players]:
        return ["the values do not list the aggregated updates in order"]
    problems = []
    for entry, player, value in zip(entries, expected.players, expected.values, strict=True):
        if abs(float(entry["value"]) - value) > TOLERANCE:
            problems.append(f"{player}: value {entry['value']}, recomputed {value:.9f}")
    if abs(float(listed["gain"]) - expected.gain) > TOLERANCE:
        problems.append(f"gain {listed['gain']}, recomputed {expected.gain:.9f}")
    return problems


def _updates(
    store: ArtifactStorePort,
    record: RoundRecord,
    accepted: Sequence[str],
    base: Mapping[str, Tensor],
    seal_key: X25519PrivateKey,
) -> list[ClientUpdate]:
    by_hospital = {u.hospital.lower(): u for u in record.updates}
    updates = []
    for hospital in accepted:
        update = by_hospital[hospital.lower()]
        payload = open_sealed(_fetch(store, update.update_cid, update.update_hash), seal_key)
        delta = bytes_to_state_dict(payload, expected=base)
        updates.append(ClientUpdate(update.hospital, delta, update.num_samples))
    return updates


def recheck_round(
    *,
    study: StudyId,
    plan: StudyPlan,
    record: RoundRecord,
    store: ArtifactStorePort,
    seal_key: X25519PrivateKey,
    validation: Examples | None,
) -> RecheckFinding:
    """Recompute finalized `record`'s decisions, values and model; compare with its metrics.

    A store that is down raises (`ConnectionError`); everything else is a finding.
    """
    try:
        metrics = json.loads(store.get(record.metrics_cid))
        accepted = [str(a["hospital"]) for a in metrics["accepted"]]
        template = plan.initial_state()
        base = bytes_to_state_dict(
            _fetch(store, record.base_model_cid, record.base_model_hash), expected=template
        )
        updates = _updates(store, record, accepted, base, seal_key)
        got = judge_round(plan, record.round, base, updates, validation)
        problems = _compare_decisions(metrics.get("decisions", []), got)
        problems += _compare_values(metrics.get("contributions"), got)
    except ConnectionError:
        raise
    except Exception as exc:  # any unreadable or inconsistent artifact is a failed finding
        return RecheckFinding(study, record.round, False, f"cannot recompute: {exc}")
    if sha256(state_dict_to_bytes(got.state)) != bytes(record.model_hash):
        problems.append("the round's model is not the strategy's result from its updates")
    if problems:
        return RecheckFinding(study, record.round, False, "; ".join(problems))
    kept = sum(d.kept for d in got.decisions)
    values = "" if got.contributions is None else f", {got.contributions.method} values match"
    return RecheckFinding(
        study,
        record.round,
        True,
        f"{kept} of {len(got.decisions)} update(s) kept as recomputed{values}",
    )
