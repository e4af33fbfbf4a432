"""What the aggregator reports for one finalized round, and what it knows of the latest round
(their own module, so the secagg round, `fl.roles.secagg_aggregation`, builds the same values)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from consent.formats.round_metrics import Decision, RoundMetrics
from consent.ids import Address, Bytes32
from fl.ports import RoundState
from fl.roles.artifacts import Artifact
from fl.roles.collect import RejectedHospital
from fl.roles.judging import RoundJudgement
from fl.strategy import UpdateDecision
from fl.train import Metrics

__all__ = ["AggregatorOutcome", "LatestRound"]


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
