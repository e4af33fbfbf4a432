"""What the aggregator reports for one finalized round, and what it knows of the latest round
(their own module, so the secagg round, `fl.roles.secagg_aggregation`, builds the same values);
`publish_round` builds a sealed round's outcome and puts its model and metrics artifacts,
`write_finalize` finalizes it on the ledger, and `latest_after` is what the aggregator then
knows of the latest round."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace

from torch import Tensor

from consent.formats.round_metrics import Decision, RoundMetrics
from consent.ids import Address, Bytes32, StudyId
from consent.records import RoundResult, StudyRecord
from fl.data import Examples
from fl.ports import ArtifactStorePort, LedgerPort, RoundPipelinePort, RoundRecord, RoundState
from fl.roles.artifacts import Artifact, store_artifact
from fl.roles.collect import RejectedHospital
from fl.roles.judging import RoundJudgement, judge_round, round_decisions
from fl.roles.overlap import overlapped
from fl.roles.plan import StudyPlan
from fl.serialize import state_dict_to_bytes
from fl.strategy import ClientUpdate, UpdateDecision
from fl.train import Metrics

__all__ = [
    "AggregatorOutcome",
    "Finalized",
    "LatestRound",
    "Sealed",
    "latest_after",
    "publish_and_finalize",
    "publish_round",
    "write_finalize",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AggregatorOutcome:
    """One finalized round."""

    round: int
    model_cid: str
    model_hash: Bytes32
    metrics_cid: str
    accepted: tuple[tuple[Address, int], ...]
    """(hospital, weight = on-chain num_patients) of the updates aggregated."""
    rejected: tuple[RejectedHospital, ...]
    missing: tuple[Address, ...]
    """Member hospitals that did not submit before the round closed."""
    test: Metrics | None
    decisions: tuple[UpdateDecision, ...] = ()
    """The strategy's report: one decision per considered update, in the round's order."""
    judgement: RoundJudgement | None = None
    """The strategy's decisions on the screened updates and the contribution values."""

    def metrics(
        self, strategy: Mapping[str, object], extensions: Mapping[str, object] | None = None
    ) -> RoundMetrics:
        """The round's metrics artifact (`extensions`: the judgement's when not given)."""
        if extensions is None:
            extensions = {} if self.judgement is None else self.judgement.extensions()
        return RoundMetrics(
            round=self.round,
            accepted=self.accepted,
            rejected=tuple((r.hospital, r.reason) for r in self.rejected),
            decisions=tuple(
                Decision(d.client_id, d.kept, d.weight, d.reason) for d in self.decisions
            ),
            missing=self.missing,
            strategy=dict(strategy),
            test=None if self.test is None else self.test.to_json_dict(),
            extensions=dict(extensions),
        )


@dataclass(frozen=True, slots=True)
class LatestRound:
    """The latest round as the aggregator's own last successful write left it.

    Only the aggregator opens and finalizes rounds (one aggregator key, one process), so after
    its own write it knows the round state without reading it back; `model` is the model it
    just finalized (already stored and recorded), the next round's base. Updates are not kept
    here: hospitals add them, so they are always read from the ledger.
    """

    round: int
    state: RoundState
    model: Artifact | None = None


@dataclass(frozen=True, slots=True)
class Sealed:
    """A sealed round's verified intake: its base model and the updates kept and rejected."""

    base: dict[str, Tensor]
    accepted: list[ClientUpdate]
    rejected: list[RejectedHospital]


def publish_round(
    plan: StudyPlan,
    store: ArtifactStorePort,
    study: StudyRecord,
    record: RoundRecord,
    intake: Sealed,
    *,
    validation: Examples | None,
    test_set: Examples | None,
) -> tuple[AggregatorOutcome, dict[str, Tensor], Artifact]:
    """Combine, evaluate, and put the model and the metrics artifact (not yet on chain).

    The auditor recomputes this very judgement (`fl.roles.recompute`, `fl.roles.recheck`).
    """
    judgement = judge_round(plan, record.round, intake.base, intake.accepted, validation)
    new_state = judgement.state
    kept = tuple(d for d in judgement.decisions if d.kept)
    # an update the strategy rejected is not aggregated: listed as rejected, with its reason
    accepted, rejected = judgement.split(intake.accepted, intake.rejected)
    data = state_dict_to_bytes(new_state)

    def evaluated() -> Metrics | None:
        if test_set is None:
            return None
        return plan.make_learner().evaluate(plan.model, new_state, test_set)

    # the new model is stored and hashed while the test set is evaluated (fl.roles.overlap)
    model, test = overlapped(lambda: store_artifact(store, data), evaluated)
    submitted = {u.hospital for u in record.updates}
    outcome = AggregatorOutcome(
        round=record.round,
        model_cid=model.cid,
        model_hash=model.hash,
        metrics_cid="",
        accepted=tuple((Address(u.client_id), u.num_samples) for u in accepted),  # weights
        rejected=tuple(rejected),
        missing=tuple(h for h in study.hospitals if h not in submitted),
        test=test,
        decisions=round_decisions(record, kept, rejected),
        judgement=judgement,
    )
    strategy = {"name": plan.strategy, "options": dict(plan.strategy_options)}
    metrics_cid = store.put(outcome.metrics(strategy).to_json_bytes())
    return replace(outcome, metrics_cid=metrics_cid), new_state, model


@dataclass(frozen=True, slots=True)
class Finalized:
    """A round published and finalized on the ledger (`opened_next`: with the next round)."""

    outcome: AggregatorOutcome
    state: dict[str, Tensor]
    model: Artifact
    opened_next: bool


def publish_and_finalize(
    plan: StudyPlan,
    store: ArtifactStorePort,
    ledger: LedgerPort,
    record: RoundRecord,
    intake: Sealed,
    *,
    study: StudyId,
    members: StudyRecord | None = None,
    validation: Examples | None,
    test_set: Examples | None,
    open_next: bool,
) -> Finalized:
    """`publish_round`, then `write_finalize` naming every update of `record` as considered
    (accepted and rejected alike): the ledger refuses with `RoundChangedError` if an update
    landed meanwhile. `members`: the study as just read (else read here), for the missing."""
    outcome, state, model = publish_round(
        plan,
        store,
        ledger.study(study) if members is None else members,
        record,
        intake,
        validation=validation,
        test_set=test_set,
    )
    result = RoundResult(
        model_hash=outcome.model_hash,
        model_cid=outcome.model_cid,
        metrics_cid=outcome.metrics_cid,
        considered_updates=len(record.updates),
    )
    opened = write_finalize(ledger, study, record.round, result, open_next=open_next)
    return Finalized(outcome, state, model, opened)


def write_finalize(
    ledger: LedgerPort, study: StudyId, round_: int, result: RoundResult, *, open_next: bool
) -> bool:
    """Finalize `round_` with `result`; with `open_next` (the study goes on and no mode decides
    the opening: secagg, unlearning, dp) and a pipeline ledger, open `round_ + 1` on the new
    model in the same transaction. Whether it did."""
    if open_next and isinstance(ledger, RoundPipelinePort):
        ledger.finalize_and_open_round(study, round_, result)
        return True
    ledger.finalize_round(study, round_, result)
    return False


def latest_after(outcome: AggregatorOutcome, model: Artifact, opened_next: bool) -> LatestRound:
    """The latest round once the aggregator finalized `outcome`'s round with `model` (and, with
    `opened_next`, opened the next one on it in the same transaction)."""
    logger.info(
        "finalized round %d: %d accepted, %d rejected, %d missing",
        outcome.round,
        len(outcome.accepted),
        len(outcome.rejected),
        len(outcome.missing),
    )
    if opened_next:
        return LatestRound(outcome.round + 1, RoundState.OPEN)
    return LatestRound(outcome.round, RoundState.FINALIZED, model)
