"""The aggregator's judgement of a round: the new model, a decision per update, and values.

`judge_round` is the one combine path: what the aggregator runs after screening the updates, and
what the auditor re-runs from the same updates (`fl.roles.recompute` for the model's hash,
`fl.roles.recheck` for the round's decisions and values): the plan's
strategy combines the accepted updates and says, for each, whether it was kept, with what weight
and why (`fl.strategy.Aggregation`; FedAvg keeps every update at its patient-count share); the
plan's valuation method, if any, values each update on the aggregator's validation set.
FLTrust's root update is the plan's local training step run by the aggregator on that validation
set, seeded per round, so it can be recomputed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from torch import Tensor

from consent.formats.round_metrics import CONTRIBUTIONS
from consent.ids import Address
from fl.data import Examples
from fl.ports import RoundRecord
from fl.robust import RobustStrategy
from fl.roles.collect import RejectedHospital
from fl.roles.errors import RoleError
from fl.roles.plan import StudyPlan
from fl.strategy import ClientUpdate, UpdateDecision
from fl.train import train_local
from fl.valuation import Contributions, validation_utility, value_round

__all__ = ["ROOT_SEED_OFFSET", "RoundJudgement", "judge_round", "round_decisions"]

ROOT_SEED_OFFSET = 104_729
"""Added to the round number for the seed of the aggregator's root update (FLTrust)."""


@dataclass(frozen=True, slots=True, eq=False)
class RoundJudgement:
    """The new global state, one decision per screened update (in input order), the values
    (if configured) and the learner's metrics extensions (e.g. k-means' inertia, ridge totals)."""

    state: dict[str, Tensor]
    decisions: tuple[UpdateDecision, ...]
    contributions: Contributions | None
    learner_extensions: Mapping[str, object] = field(default_factory=dict)

    def extensions(self) -> dict[str, Any]:
        """The round metrics' `extensions` entries: the learner's, and `contributions` when
        values were computed (the decisions are the metrics' own `decisions` list)."""
        found: dict[str, Any] = dict(self.learner_extensions)
        if self.contributions is not None:
            found[CONTRIBUTIONS] = self.contributions.to_json_dict()
        return found

    def split(
        self, accepted: Sequence[ClientUpdate], rejected: Sequence[RejectedHospital]
    ) -> tuple[list[ClientUpdate], list[RejectedHospital]]:
        """`accepted` (the screened updates) split by the strategy: those it kept (aggregated),
        and `rejected` plus those it rejected, each with the strategy's reason."""
        dropped = [d for d in self.decisions if not d.kept]
        gone = {d.client_id for d in dropped}
        return (
            [u for u in accepted if u.client_id not in gone],
            [*rejected, *(RejectedHospital(Address(d.client_id), d.reason) for d in dropped)],
        )


def round_decisions(
    record: RoundRecord, kept: Sequence[UpdateDecision], rejected: Sequence[RejectedHospital]
) -> tuple[UpdateDecision, ...]:
    """One decision per update of `record`, in its order: the strategy's for the updates it
    kept, a rejection (weight 0, the reason) for those it or the screening left out."""
    by_hospital = {d.client_id: d for d in kept}
    by_hospital.update(
        {r.hospital: UpdateDecision(r.hospital, kept=False, weight=0.0, reason=r.reason)
         for r in rejected}
    )  # fmt: skip
    return tuple(by_hospital[u.hospital] for u in record.updates if u.hospital in by_hospital)


def judge_round(
    plan: StudyPlan,
    round_: int,
    base: Mapping[str, Tensor],
    accepted: Sequence[ClientUpdate],
    validation: Examples | None,
) -> RoundJudgement:
    """Combine, judge and value `accepted` (screened updates) as `plan` says: through the plan's
    learner (`Learner.combine`), except that FLTrust also gets the aggregator's root update."""
    if not accepted:
        return RoundJudgement(dict(base), (), None)
    strategy = plan.make_strategy()
    if isinstance(strategy, RobustStrategy) and strategy.needs_root:
        if validation is None:
            raise RoleError(f"{strategy.name} needs the aggregator's validation set")
        seed = ROOT_SEED_OFFSET + round_
        root = train_local(plan.model, base, validation, replace(plan.training, seed=seed))
        combined = strategy.aggregate(base, accepted, root_delta=root.delta)
    else:
        combined = plan.make_learner().combine(base, accepted, strategy)
    valuation = plan.make_valuation()
    contributions = None
    if valuation is not None:
        if validation is None:
            raise RoleError("contribution values need the aggregator's validation set")
        utility = validation_utility(plan.model, validation, plan.valuation_metric)
        contributions = value_round(valuation, base, accepted, utility)
    return RoundJudgement(combined.state, combined.decisions, contributions, combined.extensions)
