"""Norm bounding (Sun et al., 2019, "Can you really backdoor federated learning?"): every update
is scaled down to L2 norm at most `max_norm`, then the clipped updates are averaged with sample
weights, as FedAvg does. `max_norm` omitted means the median of the round's update norms (an
adaptive bound). Clipping keeps every update; the decision says by how much it was scaled.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import ClassVar

import torch
from torch import Tensor

from fl.errors import AggregationError
from fl.robust import Decision, Judgement, RobustStrategy, stacked, unflatten
from fl.strategy import ClientUpdate

__all__ = ["NormBound"]


class NormBound(RobustStrategy):
    """new = base + sum_k n_k * clip(delta_k) / sum_k n_k, clip to L2 norm `max_norm`."""

    name: ClassVar[str] = "norm-bound"

    def __init__(self, *, max_norm: float | None = None) -> None:
        if max_norm is not None and not (
            isinstance(max_norm, int | float) and math.isfinite(max_norm) and max_norm > 0
        ):
            raise AggregationError(f"max_norm must be a positive number, got {max_norm!r}")
        self._max_norm = None if max_norm is None else float(max_norm)

    def judge(
        self,
        base_state: Mapping[str, Tensor],
        updates: Sequence[ClientUpdate],
        *,
        root_delta: Mapping[str, Tensor] | None = None,
    ) -> Judgement:
        matrix = stacked(base_state, updates)
        samples = torch.tensor([float(u.num_samples) for u in updates], dtype=torch.float64)
        if float(samples.sum()) <= 0:
            raise AggregationError("all weights are zero")
        norms = torch.linalg.vector_norm(matrix, dim=1)
        bound = self._max_norm if self._max_norm is not None else float(norms.median())
        scale = torch.where(norms > bound, bound / norms.clamp_min(1e-300), torch.ones_like(norms))
        weights = samples / samples.sum()
        aggregate = (weights.unsqueeze(1) * scale.unsqueeze(1) * matrix).sum(dim=0)
        decisions = tuple(
            Decision(
                u.client_id,
                kept=float(w) > 0,
                weight=float(w),
                reason=(
                    f"clipped from norm {float(nm):.4g} to {bound:.4g}"
                    if float(s) < 1
                    else f"norm {float(nm):.4g} within {bound:.4g}"
                ),
                score=float(nm),
            )
            for u, w, s, nm in zip(updates, weights, scale, norms, strict=True)
        )
        return Judgement(unflatten(aggregate, base_state), decisions)

    def config(self) -> dict[str, object]:
        return {"max_norm": self._max_norm}
