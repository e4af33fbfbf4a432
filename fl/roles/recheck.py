"""The auditor's recomputation of a round's decisions and contribution values from its updates.

The round metrics (`metricsCid`, committed on chain by its CID; `consent.formats.round_metrics`)
say, for every update of the round, whether the strategy kept it, with what weight and why, and
(`extensions["contributions"]`) what each hospital's contribution was. `recheck_round` redoes
that work from the artifacts the chain points to: the base model (checked against its on-chain
hash), every update of the round taken in exactly as the aggregator does (`fl.roles.collect`:
fetched by CID, checked against its on-chain hash, decoded with the plan's codec, envelope
checked, screened), the plan (the study's metadata) and the validation rows the aggregator values
updates on. It re-runs `fl.roles.judging.judge_round` and compares, within `TOLERANCE`, every
decision and value, and the model's hash. It needs a key that opens the updates (an auditor's
key listed in the plan's `auditor_seal_keys`, as `consentfl audit verify --auditor-key` passes
it, or the study's seal key) and the aggregator's validation rows. A
lie in the metrics (a decision or value changed, an update dropped or invented) or a model that is
not the strategy's result is a failed finding. Only the `sealed` codec shows individual updates:
any other is refused (`plan.codec`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from consent.formats.round_metrics import CONTRIBUTIONS, Decision, RoundMetrics
from consent.formats.study_plan import DEFAULT_CODEC
from consent.ids import StudyId
from fl.data import Examples
from fl.ports import RoundRecord
from fl.roles.artifacts import ArtifactSource, fetch_verified, sha256
from fl.roles.collect import UpdateIntake
from fl.roles.judging import RoundJudgement, judge_round, round_decisions
from fl.roles.plan import StudyPlan
from fl.serialize import bytes_to_state_dict, state_dict_to_bytes
from fl.strategy import UpdateDecision

__all__ = ["TOLERANCE", "RecheckFinding", "recheck_round"]

TOLERANCE: Final = 1e-6


@dataclass(frozen=True, slots=True)
class RecheckFinding:
    """Whether round `round`'s decisions, values and model are what its updates give."""

    study: StudyId
    round: int
    passed: bool
    detail: str


def _compare_decisions(listed: Sequence[Decision], got: Sequence[UpdateDecision]) -> list[str]:
    if [d.hospital.lower() for d in listed] != [d.client_id.lower() for d in got]:
        return ["the decisions do not list the round's updates in order"]
    problems = []
    for entry, decision in zip(listed, got, strict=True):
        if entry.kept != decision.kept:
            problems.append(
                f"{decision.client_id}: kept is {entry.kept}, recomputed {decision.kept}"
            )
        if abs(entry.weight - decision.weight) > TOLERANCE:
            problems.append(
                f"{decision.client_id}: weight {entry.weight}, recomputed {decision.weight:.9f}"
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
        return ["the values do not list the judged updates in order"]
    problems = []
    for entry, player, value in zip(entries, expected.players, expected.values, strict=True):
        if abs(float(entry["value"]) - value) > TOLERANCE:
            problems.append(f"{player}: value {entry['value']}, recomputed {value:.9f}")
    if abs(float(listed["gain"]) - expected.gain) > TOLERANCE:
        problems.append(f"gain {listed['gain']}, recomputed {expected.gain:.9f}")
    return problems


def recheck_round(
    *,
    study: StudyId,
    plan: StudyPlan,
    record: RoundRecord,
    store: ArtifactSource,
    seal_key: X25519PrivateKey,
    validation: Examples | None,
) -> RecheckFinding:
    """Recompute finalized `record`'s decisions, values and model; compare with its metrics.

    A store that is down raises (`ConnectionError`); everything else is a finding.
    """
    if plan.codec != DEFAULT_CODEC:
        return RecheckFinding(
            study,
            record.round,
            False,
            f"codec {plan.codec!r} hides individual updates: decisions and values cannot be "
            f"recomputed outside the {DEFAULT_CODEC!r} mode",
        )
    try:
        metrics = RoundMetrics.from_json_bytes(store.get(record.metrics_cid))
        base = bytes_to_state_dict(
            fetch_verified(store, record.base_model_cid, record.base_model_hash),
            expected=plan.initial_state(),
        )
        intake = UpdateIntake(
            store=store, seal_key=seal_key, codec=plan.make_codec(), learner=plan.make_learner()
        )
        accepted, rejected = intake.verified(record, base)
        got = judge_round(plan, record.round, base, accepted, validation)
        _, rejected = got.split(accepted, rejected)
        decisions = round_decisions(record, [d for d in got.decisions if d.kept], rejected)
        problems = _compare_decisions(metrics.decisions, decisions)
        listed = metrics.extensions.get(CONTRIBUTIONS)
        problems += _compare_values(None if listed is None else dict(listed), got)
    except ConnectionError:
        raise
    except Exception as exc:  # any unreadable or inconsistent artifact is a failed finding
        return RecheckFinding(study, record.round, False, f"cannot recompute: {exc}")
    if sha256(state_dict_to_bytes(got.state)) != bytes(record.model_hash):
        problems.append("the round's model is not the strategy's result from its updates")
    if problems:
        return RecheckFinding(study, record.round, False, "; ".join(problems))
    kept = sum(d.kept for d in decisions)
    values = "" if got.contributions is None else f", {got.contributions.method} values match"
    return RecheckFinding(
        study,
        record.round,
        True,
        f"{kept} of {len(decisions)} update(s) kept as recomputed{values}",
    )
