"""The aggregation strategy interface: a new global state from the base and the round's updates.

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

__all__ = ["ClientUpdate", "RejectedUpdate", "Strategy", "screen_updates"]


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


class Strategy(ABC):
    """Turns the round's base state and the accepted updates into the next global state."""

    name: ClassVar[str]
    """The registry name, used in study configuration."""

    @abstractmethod
    def aggregate(
        self, base_state: Mapping[str, Tensor], updates: Sequence[ClientUpdate]
    ) -> dict[str, Tensor]:
        """The new global state. Raises `AggregationError` when the updates cannot be combined."""

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
