"""Coordinate-wise trimmed mean (Yin et al., 2018): in each coordinate, drop the `trim` largest and
`trim` smallest values over the round's updates and average the rest. Needs more than `2 * trim`
updates. Sample counts are ignored: one update, one vote.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

import torch
from torch import Tensor

from fl.errors import AggregationError
from fl.robust import Decision, Judgement, RobustStrategy, check_faulty, stacked, unflatten
from fl.strategies.median import coordinate_shares
from fl.strategy import ClientUpdate

__all__ = ["TrimmedMean"]


class TrimmedMean(RobustStrategy):
    """new = base + mean of the middle n - 2*trim values, coordinate by coordinate."""

    name: ClassVar[str] = "trimmed-mean"

    def __init__(self, *, trim: int = 1) -> None:
        self._trim = check_faulty("trim", trim)

    def judge(
        self,
        base_state: Mapping[str, Tensor],
        updates: Sequence[ClientUpdate],
        *,
        root_delta: Mapping[str, Tensor] | None = None,
    ) -> Judgement:
        matrix = stacked(base_state, updates)
        n, f = matrix.shape[0], self._trim
        if n <= 2 * f:
            raise AggregationError(f"trimmed mean with trim={f} needs more than {2 * f} updates")
        values, order = torch.sort(matrix, dim=0, stable=True)
        mean = values[f : n - f].mean(dim=0)
        shares = coordinate_shares(order, f, n - f)
        kept_frac = shares * (n - 2 * f)
        decisions = tuple(
            Decision(
                u.client_id,
                kept=bool(s > 0),
                weight=float(s),
                reason=(
                    f"kept in {float(k):.1%} of coordinates" if s > 0 else "trimmed everywhere"
                ),
            )
            for u, s, k in zip(updates, shares, kept_frac, strict=True)
        )
        return Judgement(unflatten(mean, base_state), decisions)

    def config(self) -> dict[str, object]:
        return {"trim": self._trim}
