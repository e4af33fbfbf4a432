"""A round's contribution values, the methods that compute them, and the registry naming them.

Every method plays the same game (`fl.valuation.utility.CoalitionGame`) and returns
`Contributions`: one value per hospital in the order of the round's updates, the round's gain
v(N) - v(empty) and how many coalitions it evaluated. Exact Shapley satisfies efficiency (the
values sum to the gain) exactly; the permutation methods (TMC, GTG) up to their truncation
tolerance; leave-one-out does not claim it.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from fl.errors import AggregationError
from fl.valuation.utility import CoalitionGame

__all__ = ["Contributions", "Valuation", "check_positive", "check_seed", "check_tolerance"]


@dataclass(frozen=True, slots=True)
class Contributions:
    """Per-hospital values of one round."""

    method: str
    players: tuple[str, ...]
    values: tuple[float, ...]
    gain: float
    """v(all updates) - v(no update): the round's improvement of the utility."""
    evaluations: int

    def __post_init__(self) -> None:
        if len(self.players) != len(self.values):
            raise AggregationError("one value per player")
        if not all(math.isfinite(v) for v in (*self.values, self.gain)):
            raise AggregationError("contribution values must be finite")

    def as_dict(self) -> dict[str, float]:
        return dict(zip(self.players, self.values, strict=True))

    def to_json_dict(self) -> dict[str, Any]:
        """The form written into the round metrics (values rounded to 1e-9)."""
        return {
            "method": self.method,
            "gain": round(self.gain, 9),
            "evaluations": self.evaluations,
            "values": [
                {"hospital": p, "value": round(v, 9)}
                for p, v in zip(self.players, self.values, strict=True)
            ],
        }


class Valuation(ABC):
    """A method that values each player of a `CoalitionGame`."""

    name: ClassVar[str]

    @abstractmethod
    def values(self, game: CoalitionGame) -> list[float]:
        """One value per player, in the game's order."""

    @abstractmethod
    def config(self) -> dict[str, object]:
        """The constructor arguments as a JSON-ready dict (recorded with the round)."""

    def run(self, game: CoalitionGame) -> Contributions:
        """The values and the bookkeeping of this method on `game`."""
        values = self.values(game)
        gain = game.value(game.grand()) - game.value(frozenset())
        return Contributions(self.name, game.players, tuple(values), gain, game.evaluations)

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({options})"


def check_positive(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise AggregationError(f"{name} must be an integer >= 1, got {value!r}")
    return value


def check_tolerance(name: str, value: object) -> float:
    if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
        raise AggregationError(f"{name} must be a number >= 0, got {value!r}")
    return float(value)


def check_seed(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise AggregationError(f"seed must be an integer >= 0, got {value!r}")
    return value
