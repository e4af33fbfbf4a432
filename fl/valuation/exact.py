"""Exact Shapley values (Shapley, 1953): every coalition evaluated, 2^N of them, so N <= 8.

phi_i = sum over S not containing i of |S|! (N - |S| - 1)! / N! * (v(S + i) - v(S)).
The reference the approximations are measured against.
"""

from __future__ import annotations

from itertools import combinations
from math import factorial
from typing import ClassVar, Final

from fl.errors import AggregationError
from fl.valuation.contributions import Valuation
from fl.valuation.utility import CoalitionGame

__all__ = ["MAX_EXACT_PLAYERS", "ExactShapley"]

MAX_EXACT_PLAYERS: Final = 8


class ExactShapley(Valuation):
    name: ClassVar[str] = "exact"

    def values(self, game: CoalitionGame) -> list[float]:
        n = game.n
        if n > MAX_EXACT_PLAYERS:
            raise AggregationError(
                f"exact Shapley evaluates 2^N coalitions: at most {MAX_EXACT_PLAYERS} updates, "
                f"got {n} (use gtg or tmc)"
            )
        weight = [factorial(s) * factorial(n - s - 1) / factorial(n) for s in range(n)]
        values = [0.0] * n
        for i in range(n):
            others = [j for j in range(n) if j != i]
            for size in range(n):
                for subset in combinations(others, size):
                    coalition = frozenset(subset)
                    marginal = game.value(coalition | {i}) - game.value(coalition)
                    values[i] += weight[size] * marginal
        return values

    def config(self) -> dict[str, object]:
        return {}
