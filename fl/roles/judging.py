"""The aggregator's judgement of a round: the new model, a decision per update, and values.

`judge_round` is what the aggregator runs after screening the updates, and what the auditor
re-runs from the same updates to check the round's metrics (`fl.roles.recheck`): the plan's
strategy combines the accepted updates and says, for each, whether it was kept, with what weight
and why (FedAvg keeps every update at its sample share); the plan's valuation method, if any,
values each update on the aggregator's validation set. FLTrust's root update is the plan's local
training step run by the aggregator on that validation set, seeded per round, so it can be
recomputed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from torch import Tensor

from fl.aggregate import apply_delta
from fl.data import Examples
from fl.robust import Decision, RobustStrategy
from fl.roles.errors import RoleError
from fl.roles.plan import StudyPlan
from fl.strategy import ClientUpdate
from fl.train import train_local
from fl.valuation import Contributions, validation_utility, value_round

__all__ = ["ROOT_SEED_OFFSET", "RoundJudgement", "judge_round", "sample_share_decisions"]

ROOT_SEED_OFFSET = 104_729
"""Added to the round number for the seed of the aggregator's root update (FLTrust)."""


@dataclass(frozen=True, slots=True, eq=False)
class RoundJudgement:
    """The new global state, one decision per accepted update, and the values (if configured)."""

    state: dict[str, Tensor]
    decisions: tuple[Decision, ...]
    contributions: Contributions | None

    def to_json_dict(self) -> dict[str, Any]:
        """The `decisions` and `contributions` entries of the round metrics."""
        return {
            "decisions": [d.to_json_dict() for d in self.decisions],
            "contributions": None
            if self.contributions is None
            else self.contributions.to_json_dict(),
        }


def sample_share_decisions(updates: Sequence[ClientUpdate], reason: str) -> tuple[Decision, ...]:
    """Every update kept at its share of the samples (FedAvg's weights)."""
    total = sum(u.num_samples for u in updates)
    return tuple(
        Decision(u.client_id, kept=u.num_samples > 0, weight=u.num_samples / total, reason=reason)
        for u in updates
    )


def judge_round(
    plan: StudyPlan,
    round_: int,
    base: Mapping[str, Tensor],
    accepted: Sequence[ClientUpdate],
    validation: Examples | None,
) -> RoundJudgement:
    """Combine, judge and value `accepted` (screened updates) as `plan` says."""
    if not accepted:
        return RoundJudgement(dict(base), (), None)
    strategy = plan.make_strategy()
    if isinstance(strategy, RobustStrategy):
        root = None
        if strategy.needs_root:
            if validation is None:
                raise RoleError(f"{strategy.name} needs the aggregator's validation set")
            seed = ROOT_SEED_OFFSET + round_
            root = train_local(plan.model, base, validation, replace(plan.training, seed=seed))
        judgement = strategy.judge(base, accepted, root_delta=None if root is None else root.delta)
        state, decisions = apply_delta(base, judgement.delta), judgement.decisions
    else:
        state = strategy.aggregate(base, accepted)
        decisions = sample_share_decisions(accepted, f"{strategy.name}: weighted by samples")
    valuation = plan.make_valuation()
    contributions = None
    if valuation is not None:
        if validation is None:
            raise RoleError("contribution values need the aggregator's validation set")
        utility = validation_utility(plan.model, validation, plan.valuation_metric)
        contributions = value_round(valuation, base, accepted, utility)
    return RoundJudgement(state, decisions, contributions)
