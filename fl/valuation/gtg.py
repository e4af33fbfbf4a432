"""GTG-Shapley (Liu et al., ACM TIST 2022): guided truncation gradient Shapley for one FL round.

Sub-models are reconstructed from the round's updates (`CoalitionGame`: no retraining).
* Between-round truncation: a round whose gain |v(N) - v(empty)| is below `round_tolerance`
  values every hospital 0 (nothing to share).
* Guided sampling: permutation k starts with player k mod N (every player is tried first, where
  its marginal is largest), the rest in random order (seeded).
* Within-round truncation: see `fl.valuation.permutations` (`tolerance`, relative to the gain).
* Convergence: stop once a full cycle of N permutations moved no running mean by more than
  `convergence` times the mean absolute value, or after `permutations`, or when the next
  evaluation would exceed `max_evaluations` coalitions (that walk is discarded).
"""

from __future__ import annotations

import random
from typing import ClassVar

from fl.valuation.contributions import Valuation, check_positive, check_seed, check_tolerance
from fl.valuation.permutations import BudgetExhaustedError, walk
from fl.valuation.utility import CoalitionGame

__all__ = ["GTGShapley"]


class GTGShapley(Valuation):
    name: ClassVar[str] = "gtg"

    def __init__(
        self,
        *,
        permutations: int = 100,
        tolerance: float = 0.05,
        round_tolerance: float = 1e-9,
        convergence: float = 0.05,
        max_evaluations: int | None = None,
        seed: int = 0,
    ) -> None:
        self._permutations = check_positive("permutations", permutations)
        self._tolerance = check_tolerance("tolerance", tolerance)
        self._round_tolerance = check_tolerance("round_tolerance", round_tolerance)
        self._convergence = check_tolerance("convergence", convergence)
        self._budget = (
            None if max_evaluations is None else check_positive("max_evaluations", max_evaluations)
        )
        self._seed = check_seed(seed)

    def values(self, game: CoalitionGame) -> list[float]:
        n = game.n
        gain = game.value(game.grand()) - game.value(frozenset())
        if abs(gain) < self._round_tolerance:
            return [0.0] * n
        rng = random.Random(self._seed)  # noqa: S311  (sampling, not secrets)
        totals, walks = [0.0] * n, 0
        checkpoint: list[float] | None = None
        for k in range(self._permutations):
            first = k % n
            rest = [j for j in range(n) if j != first]
            rng.shuffle(rest)
            try:
                marginals = walk(game, [first, *rest], self._tolerance, self._budget)
            except BudgetExhaustedError:
                break
            totals = [t + m for t, m in zip(totals, marginals, strict=True)]
            walks += 1
            if walks % n == 0:
                means = [t / walks for t in totals]
                if checkpoint is not None and self._converged(checkpoint, means):
                    break
                checkpoint = means
        return [t / walks for t in totals] if walks else [0.0] * n

    def _converged(self, before: list[float], after: list[float]) -> bool:
        scale = sum(abs(v) for v in after) / len(after)
        if scale == 0:
            return True
        return max(abs(a - b) for a, b in zip(after, before, strict=True)) <= (
            self._convergence * scale
        )

    def config(self) -> dict[str, object]:
        return {
            "permutations": self._permutations,
            "tolerance": self._tolerance,
            "round_tolerance": self._round_tolerance,
            "convergence": self._convergence,
            "max_evaluations": self._budget,
            "seed": self._seed,
        }
