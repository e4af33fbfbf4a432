"""FLTrust (Cao et al., NDSS 2021): trust bootstrapped from the aggregator's own data.

The aggregator computes a root update g0 by training the round's base on its validation set
(`root_delta`, see the aggregator role). Each hospital's update gi gets the trust score
TS_i = ReLU(cos(gi, g0)) and is rescaled to g0's norm; the aggregate is
sum_i TS_i * (|g0| / |gi|) * gi / sum_i TS_i. An update pointing away from g0 (TS_i = 0) is
rejected; when every update is, the aggregate is zero (the base carries over). Sample counts are
ignored, as in the paper.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

import torch
from torch import Tensor

from fl.aggregate import check_compatible
from fl.errors import AggregationError
from fl.robust import Decision, Judgement, RobustStrategy, flatten, stacked, unflatten
from fl.strategy import ClientUpdate

__all__ = ["FLTrust"]


class FLTrust(RobustStrategy):
    """new = base + trust-weighted, norm-aligned mean of the deltas."""

    name: ClassVar[str] = "fltrust"
    needs_root = True

    def judge(
        self,
        base_state: Mapping[str, Tensor],
        updates: Sequence[ClientUpdate],
        *,
        root_delta: Mapping[str, Tensor] | None = None,
    ) -> Judgement:
        if root_delta is None:
            raise AggregationError("fltrust needs a root update from the aggregator's data")
        check_compatible(base_state, root_delta)
        matrix = stacked(base_state, updates)
        root = flatten(root_delta, list(base_state))
        root_norm = torch.linalg.vector_norm(root)
        norms = torch.linalg.vector_norm(matrix, dim=1)
        if float(root_norm) == 0.0:
            raise AggregationError("fltrust: the root update is zero")
        cosine = torch.where(
            norms > 0,
            matrix @ root / (norms.clamp_min(1e-300) * root_norm),
            torch.zeros_like(norms),
        )
        trust = cosine.clamp_min(0.0)
        total = float(trust.sum())
        if total > 0:
            scaled = matrix * (root_norm / norms.clamp_min(1e-300)).unsqueeze(1)
            aggregate = (trust.unsqueeze(1) * scaled).sum(dim=0) / total
            weights = trust / total
        else:
            aggregate = torch.zeros_like(root)
            weights = torch.zeros_like(trust)
        decisions = tuple(
            Decision(
                u.client_id,
                kept=float(w) > 0,
                weight=float(w),
                reason=(
                    f"cosine {float(c):.3f} with the root update"
                    if float(w) > 0
                    else f"cosine {float(c):.3f} <= 0 with the root update"
                ),
                score=float(t),
            )
            for u, w, c, t in zip(updates, weights, cosine, trust, strict=True)
        )
        return Judgement(unflatten(aggregate, base_state), decisions)

    def config(self) -> dict[str, object]:
        return {}
