"""The aggregation strategy interface: a new global state from the base and the round's updates,
with a report of what it did with each update.

`Strategy.aggregate` returns an `Aggregation`: the new state and one `UpdateDecision` per update
(kept or rejected, its weight in the combination, why). The aggregator writes the decisions into
the round metrics artifact (`consent.formats.round_metrics`) and the audit checks them, so a
robust strategy that drops or down-weights an update says so where an auditor can see it.

One strategy per module in `fl.strategies` (like Flower's `strategy/`); the maths they share lives
in `fl.aggregate`. Strategies are configured through keyword-only constructor arguments validated
at construction, hold no per-round state, and never modify their inputs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from torch import Tensor

from fl.aggregate import check_compatible
from fl.errors import AggregationError

__all__ = [
    "Aggregation",
    "ClientUpdate",
    "RejectedUpdate",
    "Strategy",
    "UpdateDecision",
    "screen_updates",
]


@dataclass(frozen=True, slots=True, eq=False)
class ClientUpdate:
    """One hospital's contribution to a round: a delta against the round's base model."""

    client_id: str
    """Who sent it (a hospital address in the real roles, a label in simulation)."""
    delta: Mapping[str, Tensor]
    num_samples: int

    def __post_init__(self) -> None:
        if isinstance(self.num_samples, bool) or not isinstance(self.num_samples, int):
            raise AggregationError(f"num_samples of {self.client_id!r} must be an integer")
        if self.num_samples < 0:
            raise AggregationError(f"num_samples of {self.client_id!r} must be >= 0")


@dataclass(frozen=True, slots=True)
class UpdateDecision:
    """What a strategy did with one update."""

    client_id: str
    kept: bool
    weight: float
    """The update's share of the combination (0 when rejected)."""
    reason: str = ""


@dataclass(frozen=True, slots=True, eq=False)
class Aggregation:
    """A strategy's result: the next global state and one decision per update, in order."""

    state: dict[str, Tensor]
    decisions: tuple[UpdateDecision, ...]


class Strategy(ABC):
    """Turns the round's base state and the accepted updates into the next global state."""

    name: ClassVar[str]
    """The registry name, used in study configuration."""

    @abstractmethod
    def aggregate(
        self, base_state: Mapping[str, Tensor], updates: Sequence[ClientUpdate]
    ) -> Aggregation:
        """The new global state and a decision per update. Raises `AggregationError` when the
        updates cannot be combined."""

    @abstractmethod
    def config(self) -> dict[str, object]:
        """The constructor arguments as a JSON-ready dict (recorded with the round)."""


@dataclass(frozen=True, slots=True, eq=False)
class RejectedUpdate:
    """An update left out of aggregation, and why."""

    update: ClientUpdate
    error: AggregationError


def screen_updates(
    base_state: Mapping[str, Tensor], updates: Sequence[ClientUpdate]
) -> tuple[list[ClientUpdate], list[RejectedUpdate]]:
    """Split `updates` into those that fit `base_state` (keys, shapes, dtypes, finite values, and
    at least one sample) and the rejected ones with their reasons: failures come back as data,
    so an aggregator can finalize a round without a malformed update and record why."""
    accepted: list[ClientUpdate] = []
    rejected: list[RejectedUpdate] = []
    for i, update in enumerate(updates):
        try:
            check_compatible(base_state, update.delta, index=i)
            if update.num_samples == 0:
                raise AggregationError(f"update {i}: no samples", index=i)
        except AggregationError as exc:
            rejected.append(RejectedUpdate(update, exc))
        else:
            accepted.append(update)
    return accepted, rejected
