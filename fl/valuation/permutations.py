"""What the permutation estimators (TMC-Shapley, GTG-Shapley) share: walking one permutation.

Adding the players of a permutation one by one, each player's marginal v(S + i) - v(S) is a
sample of its Shapley value; the marginals of one walk sum to v(N) - v(empty) (they telescope).
Truncation (Ghorbani and Zou 2019; GTG's within-round truncation): once v(S) is within
`tolerance * |gain|` of v(N), the remaining players get 0 instead of an evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence

from fl.valuation.utility import CoalitionGame

__all__ = ["BudgetExhaustedError", "walk"]


class BudgetExhaustedError(Exception):
    """Evaluating the next coalition would exceed the evaluation budget (internal signal)."""


def walk(
    game: CoalitionGame, order: Sequence[int], tolerance: float, budget: int | None
) -> list[float]:
    """The marginal of every player along `order` (indexed by player), truncated."""
    full, empty = game.value(game.grand()), game.value(frozenset())
    threshold = tolerance * abs(full - empty)
    marginals = [0.0] * game.n
    coalition: frozenset[int] = frozenset()
    previous = empty
    for player in order:
        if abs(full - previous) < threshold:
            break  # truncated: the rest add nothing measurable
        nxt = coalition | {player}
        if budget is not None and not game.cached(nxt) and game.evaluations >= budget:
            raise BudgetExhaustedError
        current = game.value(nxt)
        marginals[player] = current - previous
        coalition, previous = nxt, current
    return marginals
