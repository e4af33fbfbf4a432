"""What the aggregator reports for one finalized round (its own module so the secagg round,
`fl.roles.secagg_aggregation`, builds the same value)."""

from __future__ import annotations

from dataclasses import dataclass

from consent.ids import Address, Bytes32
from fl.roles.collect import RejectedHospital
from fl.roles.judging import RoundJudgement
from fl.strategy import UpdateDecision
from fl.train import Metrics

__all__ = ["AggregatorOutcome"]


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
