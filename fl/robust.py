"""What a robust strategy says about every update of a round: kept or rejected, its weight, why.

A robust strategy (`fl.strategies.median`, `krum`, `bulyan`, ...) judges the round's updates
before combining them. Its `judge` returns a `Judgement`: the aggregate delta and one `Decision`
per update, in input order. `weight` is the update's share of the aggregate (the kept weights sum
to 1); for coordinate-wise rules (median, trimmed mean) it is the fraction of the coordinates in
which the update's value was used, normalised over the updates. The decisions are data: the
aggregator writes them into the round metrics and the audit recomputes them from the updates.

The maths works on each update flattened into one float64 vector (`flatten`, `unflatten`), so a
rule that looks at distances or norms sees the whole update, as Krum and FLTrust define them.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from fl.aggregate import apply_delta, check_compatible
from fl.errors import AggregationError
from fl.strategy import Aggregation, ClientUpdate, Strategy, UpdateDecision

__all__ = [
    "Decision",
    "Judgement",
    "RobustStrategy",
    "check_faulty",
    "flatten",
    "stacked",
    "unflatten",
]


@dataclass(frozen=True, slots=True)
class Decision:
    """One update's fate in a round."""

    client_id: str
    kept: bool
    weight: float
    """Share of the aggregate, in [0, 1]; 0 when rejected."""
    reason: str
    score: float | None = None
    """The rule's own number for this update (Krum score, trust score, norm), when it has one."""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.weight) and 0.0 <= self.weight <= 1.0 + 1e-9):
            raise AggregationError(f"weight of {self.client_id!r} must be in [0, 1]")
        if self.kept != (self.weight > 0):
            raise AggregationError(f"{self.client_id!r}: kept iff its weight is positive")

    def as_update_decision(self) -> UpdateDecision:
        """The strategy report's form (`fl.strategy.UpdateDecision`, written into the round
        metrics); the score is part of the reason when the rule has one."""
        reason = self.reason if self.score is None else f"{self.reason} (score {self.score:.6g})"
        return UpdateDecision(self.client_id, kept=self.kept, weight=self.weight, reason=reason)


@dataclass(frozen=True, slots=True, eq=False)
class Judgement:
    """A robust strategy's answer: the aggregate delta and one decision per update."""

    delta: dict[str, Tensor]
    decisions: tuple[Decision, ...]


class RobustStrategy(Strategy):
    """A strategy that judges each update; `aggregate` applies the judged delta to the base."""

    needs_root: bool = False
    """Whether `judge` needs `root_delta` (an update the aggregator computes on its own data)."""

    @abstractmethod
    def judge(
        self,
        base_state: Mapping[str, Tensor],
        updates: Sequence[ClientUpdate],
        *,
        root_delta: Mapping[str, Tensor] | None = None,
    ) -> Judgement:
        """The aggregate delta and the per-update decisions. Never modifies its inputs."""

    def aggregate(
        self,
        base_state: Mapping[str, Tensor],
        updates: Sequence[ClientUpdate],
        *,
        root_delta: Mapping[str, Tensor] | None = None,
    ) -> Aggregation:
        """The base plus the judged delta, with the judgement's decisions as the strategy report
        (`fl.strategy.UpdateDecision`: the same kept flag, weight and reason, in input order)."""
        judgement = self.judge(base_state, updates, root_delta=root_delta)
        return Aggregation(
            apply_delta(base_state, judgement.delta),
            tuple(d.as_update_decision() for d in judgement.decisions),
        )

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({options})"


def check_faulty(name: str, value: object) -> int:
    """`value` as a number of faulty updates: an integer >= 0 (validated at construction)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise AggregationError(f"{name} must be an integer >= 0, got {value!r}")
    return value


def flatten(delta: Mapping[str, Tensor], keys: Sequence[str]) -> Tensor:
    """The tensors of `delta` under `keys`, in that order, as one float64 vector (a copy)."""
    return torch.cat([delta[k].detach().reshape(-1).to(torch.float64) for k in keys])


def unflatten(vector: Tensor, reference: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Split `vector` back into `reference`'s keys (in its order), shapes and dtypes."""
    out: dict[str, Tensor] = {}
    offset = 0
    for key, ref in reference.items():
        size = ref.numel()
        out[key] = vector[offset : offset + size].reshape(ref.shape).to(ref.dtype).clone()
        offset += size
    if offset != vector.numel():
        raise AggregationError(f"vector has {vector.numel()} values, the model {offset}")
    return out


def stacked(base_state: Mapping[str, Tensor], updates: Sequence[ClientUpdate]) -> Tensor:
    """The updates as an (n, d) float64 matrix in `base_state`'s key order, after checking each
    fits the base (keys, shapes, dtypes, finite) and there is at least one."""
    if not updates:
        raise AggregationError("nothing to aggregate: no updates")
    for i, update in enumerate(updates):
        check_compatible(base_state, update.delta, index=i)
    keys = list(base_state)
    return torch.stack([flatten(u.delta, keys) for u in updates])
