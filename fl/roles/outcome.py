"""What the aggregator returns per finalized round, and what it remembers of its own last write."""

from __future__ import annotations

from dataclasses import dataclass

from consent.formats.round_metrics import Decision, RoundMetrics
from consent.ids import Address, Bytes32
from fl.ports import RoundState
from fl.roles.artifacts import Artifact
from fl.roles.collect import RejectedHospital
from fl.roles.judging import RoundJudgement
from fl.roles.plan import StudyPlan
from fl.strategy import UpdateDecision
from fl.train import Metrics

__all__ = ["AggregatorOutcome", "LatestRound", "metrics_of"]


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


@dataclass(frozen=True, slots=True)
class LatestRound:
    """The latest round as this aggregator's own last successful write left it.

    Only the aggregator opens and finalizes rounds (one aggregator key, one process), so after
    its own write it knows the round state without reading it back; `model` is the model it
    just finalized (already stored and recorded), the next round's base. Updates are not kept
    here: hospitals add them, so they are always read from the ledger.
    """

    round: int
    state: RoundState
    model: Artifact | None = None


def metrics_of(plan: StudyPlan, outcome: AggregatorOutcome) -> RoundMetrics:
    """The round's metrics artifact (`consent.formats.round_metrics`) for `outcome`."""
    return RoundMetrics(
        round=outcome.round,
        accepted=outcome.accepted,
        rejected=tuple((r.hospital, r.reason) for r in outcome.rejected),
        decisions=tuple(
            Decision(d.client_id, d.kept, d.weight, d.reason) for d in outcome.decisions
        ),
        missing=outcome.missing,
        strategy={"name": plan.strategy, "options": dict(plan.strategy_options)},
        test=None if outcome.test is None else outcome.test.to_json_dict(),
        extensions={} if outcome.judgement is None else outcome.judgement.extensions(),
    )
