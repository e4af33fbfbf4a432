"""FedAvg (McMahan et al., 2017): the sample-weighted mean of the deltas, added to the base.

FedProx changes only the client (a proximal term in local training, see `fl.train`); its server
side is this strategy too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import ClassVar

from torch import Tensor

from fl.aggregate import apply_delta, check_compatible, weighted_mean
from fl.errors import AggregationError
from fl.strategy import Aggregation, ClientUpdate, Strategy, UpdateDecision

__all__ = ["FedAvg"]


class FedAvg(Strategy):
    """new = base + server_lr * sum_k n_k * delta_k / sum_k n_k.

    `server_lr=1` (the default) is classic FedAvg; other values are FedAvg with a server learning
    rate (Reddi et al., 2021, "FedAvgM" without momentum).
    """

    name: ClassVar[str] = "fedavg"

    def __init__(self, *, server_lr: float = 1.0) -> None:
        if not (isinstance(server_lr, int | float) and math.isfinite(server_lr) and server_lr > 0):
            raise AggregationError(f"server_lr must be a positive number, got {server_lr!r}")
        self._server_lr = float(server_lr)

    def aggregate(
        self, base_state: Mapping[str, Tensor], updates: Sequence[ClientUpdate]
    ) -> Aggregation:
        """Every update is kept, weighted by its share of the samples."""
        if not updates:
            raise AggregationError("nothing to aggregate: no updates")
        for i, update in enumerate(updates):
            check_compatible(base_state, update.delta, index=i)
        samples = [u.num_samples for u in updates]
        mean = weighted_mean([u.delta for u in updates], samples)
        total = math.fsum(samples)
        decisions = tuple(
            UpdateDecision(u.client_id, kept=True, weight=u.num_samples / total) for u in updates
        )
        return Aggregation(apply_delta(base_state, mean, scale=self._server_lr), decisions)

    def config(self) -> dict[str, object]:
        return {"server_lr": self._server_lr}

    def __repr__(self) -> str:
        return f"FedAvg(server_lr={self._server_lr})"
