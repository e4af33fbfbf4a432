"""Coordinate-wise median (Yin et al., 2018): each coordinate of the aggregate is the median of
that coordinate over the round's updates (for an even count, the mean of the two middle values,
as numpy and ByzFL define it). Sample counts are ignored: one update, one vote.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

import torch
from torch import Tensor

from fl.robust import Decision, Judgement, RobustStrategy, stacked, unflatten
from fl.strategy import ClientUpdate

__all__ = ["CoordinateMedian", "coordinate_shares"]


def coordinate_shares(order: Tensor, low: int, high: int) -> Tensor:
    """Per update, the fraction of the aggregate it supplied when, in every coordinate, the sorted
    positions `low..high-1` (of `order`, the per-coordinate argsort, shape (n, d)) are averaged."""
    n, d = order.shape
    used = order[low:high].reshape(-1)
    counts = torch.bincount(used, minlength=n).to(torch.float64)
    return counts / float(d * (high - low))


class CoordinateMedian(RobustStrategy):
    """new = base + median_k(delta_k), coordinate by coordinate."""

    name: ClassVar[str] = "median"

    def judge(
        self,
        base_state: Mapping[str, Tensor],
        updates: Sequence[ClientUpdate],
        *,
        root_delta: Mapping[str, Tensor] | None = None,
    ) -> Judgement:
        matrix = stacked(base_state, updates)
        n = matrix.shape[0]
        values, order = torch.sort(matrix, dim=0, stable=True)
        low, high = (n - 1) // 2, n // 2 + 1
        median = values[low:high].mean(dim=0)
        shares = coordinate_shares(order, low, high)
        decisions = tuple(
            Decision(
                u.client_id,
                kept=bool(s > 0),
                weight=float(s),
                reason=(
                    f"the median in {float(s) * (high - low):.1%} of coordinates"
                    if s > 0
                    else "never the median of a coordinate"
                ),
            )
            for u, s in zip(updates, shares, strict=True)
        )
        return Judgement(unflatten(median, base_state), decisions)

    def config(self) -> dict[str, object]:
        return {}
