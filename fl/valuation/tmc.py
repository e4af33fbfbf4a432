"""TMC-Shapley (Ghorbani and Zou, ICML 2019): the mean of truncated permutation walks.

Up to `permutations` uniformly random permutations (seeded), stopped early when the next
evaluation would exceed `max_evaluations` coalitions (the grand and empty coalitions included);
a walk cut short by the budget is discarded. See `fl.valuation.permutations` for truncation.
"""

from __future__ import annotations

import random
from typing import ClassVar

from fl.valuation.contributions import Valuation, check_positive, check_seed, check_tolerance
from fl.valuation.permutations import BudgetExhaustedError, walk
from fl.valuation.utility import CoalitionGame

__all__ = ["TMCShapley"]


class TMCShapley(Valuation):
    name: ClassVar[str] = "tmc"

    def __init__(
        self,
        *,
        permutations: int = 100,
        tolerance: float = 0.01,
        max_evaluations: int | None = None,
        seed: int = 0,
    ) -> None:
        self._permutations = check_positive("permutations", permutations)
        self._tolerance = check_tolerance("tolerance", tolerance)
        self._budget = (
            None if max_evaluations is None else check_positive("max_evaluations", max_evaluations)
        )
        self._seed = check_seed(seed)

    def values(self, game: CoalitionGame) -> list[float]:
        rng = random.Random(self._seed)  # noqa: S311  (sampling, not secrets)
        totals, walks = [0.0] * game.n, 0
        for _ in range(self._permutations):
            order = list(range(game.n))
            rng.shuffle(order)
            try:
                marginals = walk(game, order, self._tolerance, self._budget)
            except BudgetExhaustedError:
                break
            totals = [t + m for t, m in zip(totals, marginals, strict=True)]
            walks += 1
        return [t / walks for t in totals] if walks else [0.0] * game.n

    def config(self) -> dict[str, object]:
        return {
            "permutations": self._permutations,
            "tolerance": self._tolerance,
            "max_evaluations": self._budget,
            "seed": self._seed,
        }
