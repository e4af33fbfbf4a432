"""Bulyan (El Mhamdi et al., 2018) over Krum.

1. Selection: theta = n - 2f times, run Krum (see `fl.strategies.krum`) on the updates not yet
   selected and move its choice into the selection set.
2. Aggregation: in every coordinate, average the beta = theta - 2f selected values closest to
   that coordinate's median over the selection set.

Needs n >= 4f + 3 updates. Sample counts are ignored. An update's weight is its share of the
values averaged in step 2; one not selected in step 1 is rejected.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

import torch
from torch import Tensor

from fl.errors import AggregationError
from fl.robust import Decision, Judgement, RobustStrategy, check_faulty, stacked, unflatten
from fl.strategies.krum import krum_scores
from fl.strategy import ClientUpdate

__all__ = ["Bulyan", "bulyan_selection"]


def bulyan_selection(matrix: Tensor, f: int) -> list[int]:
    """Step 1: the indices, in selection order, of the theta = n - 2f rows Krum chose in turn."""
    remaining = list(range(matrix.shape[0]))
    chosen: list[int] = []
    for _ in range(matrix.shape[0] - 2 * f):
        scores = krum_scores(matrix[remaining], f)
        best = min(range(len(remaining)), key=lambda j: (float(scores[j]), remaining[j]))
        chosen.append(remaining.pop(best))
    return chosen


class Bulyan(RobustStrategy):
    """new = base + Bulyan(deltas)."""

    name: ClassVar[str] = "bulyan"

    def __init__(self, *, faulty: int = 1) -> None:
        self._faulty = check_faulty("faulty", faulty)

    def judge(
        self,
        base_state: Mapping[str, Tensor],
        updates: Sequence[ClientUpdate],
        *,
        root_delta: Mapping[str, Tensor] | None = None,
    ) -> Judgement:
        matrix = stacked(base_state, updates)
        n, f = matrix.shape[0], self._faulty
        if n < 4 * f + 3:
            raise AggregationError(f"bulyan with faulty={f} needs at least {4 * f + 3} updates")
        chosen = bulyan_selection(matrix, f)
        selected = matrix[chosen]
        theta = len(chosen)
        beta = theta - 2 * f
        median = torch.quantile(selected, 0.5, dim=0)
        closest = torch.argsort((selected - median).abs(), dim=0, stable=True)[:beta]
        aggregate = torch.gather(selected, 0, closest).mean(dim=0)
        counts = torch.bincount(closest.reshape(-1), minlength=theta).to(torch.float64)
        shares = counts / float(closest.numel())
        weight = {idx: float(shares[j]) for j, idx in enumerate(chosen)}
        decisions = tuple(
            Decision(
                u.client_id,
                kept=weight.get(i, 0.0) > 0,
                weight=weight.get(i, 0.0),
                reason=(
                    f"selected by Krum, closest to the median in {weight[i] * beta:.1%} of "
                    "coordinates"
                    if weight.get(i, 0.0) > 0
                    else "selected by Krum but never closest to the median"
                    if i in weight
                    else f"not among the {theta} updates Krum selected"
                ),
            )
            for i, u in enumerate(updates)
        )
        return Judgement(unflatten(aggregate, base_state), decisions)

    def config(self) -> dict[str, object]:
        return {"faulty": self._faulty}
