"""Krum and Multi-Krum (Blanchard et al., 2017).

Each update's score is the sum of its squared Euclidean distances to its `n - f - 2` nearest other
updates (`f` the number of faulty updates tolerated; at least one neighbour). Krum keeps the
update with the lowest score; Multi-Krum keeps the `m` lowest and averages them (unweighted, as in
the paper). Needs `n > 2f + 2` updates. Ties are broken by input order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

import torch
from torch import Tensor

from fl.errors import AggregationError
from fl.robust import Decision, Judgement, RobustStrategy, check_faulty, stacked, unflatten
from fl.strategy import ClientUpdate

__all__ = ["Krum", "MultiKrum", "krum_scores"]


def krum_scores(matrix: Tensor, f: int) -> Tensor:
    """Per row of `matrix` (n, d): the sum of squared distances to its max(1, n-f-2) nearest
    other rows."""
    n = matrix.shape[0]
    neighbours = max(1, n - f - 2)
    if n < 2:
        return torch.zeros(n, dtype=torch.float64)
    squared = torch.cdist(matrix, matrix).pow(2)
    squared.fill_diagonal_(float("inf"))
    nearest = torch.sort(squared, dim=1).values[:, :neighbours]
    return nearest.sum(dim=1)


def _krum_select(matrix: Tensor, f: int, m: int) -> tuple[list[int], Tensor]:
    scores = krum_scores(matrix, f)
    order = sorted(range(matrix.shape[0]), key=lambda i: (float(scores[i]), i))
    return order[:m], scores


class MultiKrum(RobustStrategy):
    """new = base + mean of the `keep` updates with the lowest Krum scores."""

    name: ClassVar[str] = "multi-krum"

    def __init__(self, *, faulty: int = 1, keep: int | None = None) -> None:
        self._faulty = check_faulty("faulty", faulty)
        if keep is not None and (check_faulty("keep", keep) == 0):
            raise AggregationError("keep must be >= 1")
        self._keep = keep

    def _m(self, n: int) -> int:
        """How many to keep: `keep`, or n - f when not set (the paper's usual choice)."""
        return self._keep if self._keep is not None else n - self._faulty

    def judge(
        self,
        base_state: Mapping[str, Tensor],
        updates: Sequence[ClientUpdate],
        *,
        root_delta: Mapping[str, Tensor] | None = None,
    ) -> Judgement:
        matrix = stacked(base_state, updates)
        n, f = matrix.shape[0], self._faulty
        m = self._m(n)
        if n <= 2 * f + 2:
            raise AggregationError(
                f"{self.name} with faulty={f} needs more than {2 * f + 2} updates"
            )
        if m > n:
            raise AggregationError(f"{self.name} cannot keep {m} of {n} updates")
        chosen, scores = _krum_select(matrix, f, m)
        mean = matrix[chosen].mean(dim=0)
        rank = {i: r for r, i in enumerate(sorted(range(n), key=lambda i: (float(scores[i]), i)))}
        decisions = tuple(
            Decision(
                u.client_id,
                kept=i in chosen,
                weight=1.0 / m if i in chosen else 0.0,
                reason=(
                    f"Krum score rank {rank[i] + 1} of {n}: among the {m} kept"
                    if i in chosen
                    else f"Krum score rank {rank[i] + 1} of {n}: outside the {m} kept"
                ),
                score=float(scores[i]),
            )
            for i, u in enumerate(updates)
        )
        return Judgement(unflatten(mean, base_state), decisions)

    def config(self) -> dict[str, object]:
        return {"faulty": self._faulty, "keep": self._keep}


class Krum(MultiKrum):
    """new = base + the single update with the lowest Krum score."""

    name: ClassVar[str] = "krum"

    def __init__(self, *, faulty: int = 1) -> None:
        super().__init__(faulty=faulty, keep=1)

    def config(self) -> dict[str, object]:
        return {"faulty": self._faulty}
