"""The game a round's contribution values are computed on: v(S) for a coalition S of updates.

v(S) is the utility (on the aggregator's validation set) of the model the round would have
produced from S's updates alone: the base plus the sample-weighted mean of S's deltas, as FedAvg
builds it (GTG-Shapley's reconstruction: no retraining). v of the empty coalition is the base
model's utility, so v(N) - v(empty) is the round's gain. The utility is a callable on a state
dict; `validation_utility` makes the usual one (minus the mean validation loss by default, which
unlike accuracy moves with every update; or the accuracy).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Literal, get_args

import torch
from torch import Tensor, nn

from fl.data import Examples
from fl.errors import AggregationError
from fl.models import ModelSpec, build_model
from fl.robust import stacked, unflatten
from fl.strategy import ClientUpdate

__all__ = ["METRICS", "CoalitionGame", "Utility", "UtilityMetric", "validation_utility"]

Utility = Callable[[Mapping[str, Tensor]], float]
UtilityMetric = Literal["loss", "accuracy"]
METRICS: tuple[UtilityMetric, ...] = get_args(UtilityMetric)


def validation_utility(spec: ModelSpec, validation: Examples, metric: UtilityMetric) -> Utility:
    """state -> minus the validation loss (`metric="loss"`) or the validation accuracy.

    The model is built once and each state run through it with `torch.func.functional_call`:
    valuation evaluates hundreds of coalitions per round, and building a model per state
    (`fl.train.evaluate`) costs more than the forward pass. The loss is `evaluate`'s: binary
    cross-entropy with logits for classification, mean squared error for regression.
    """
    if metric not in METRICS:
        raise AggregationError(f"utility metric must be one of {METRICS}, got {metric!r}")
    if metric == "accuracy" and spec.task != "classification":
        raise AggregationError("accuracy is a classification metric")
    if len(validation) == 0:
        raise AggregationError("no validation rows to value the updates on")
    model = build_model(spec, seed=0).eval()
    features, labels = validation.features, validation.labels

    @torch.no_grad()
    def utility(state: Mapping[str, Tensor]) -> float:
        out = torch.func.functional_call(model, dict(state), (features,)).squeeze(-1)
        if metric == "accuracy":
            return float(((out > 0).float() == labels).float().mean())
        if spec.task == "classification":
            return -float(nn.functional.binary_cross_entropy_with_logits(out, labels))
        return -float(((out - labels) ** 2).mean())

    return utility


class CoalitionGame:
    """v(S) over the round's updates, cached per coalition; `evaluations` counts utility calls."""

    def __init__(
        self, base_state: Mapping[str, Tensor], updates: Sequence[ClientUpdate], utility: Utility
    ) -> None:
        self._base = dict(base_state)
        self._matrix = stacked(base_state, updates)
        self._flat_base = torch.cat([t.reshape(-1).to(torch.float64) for t in self._base.values()])
        self._samples = torch.tensor([float(u.num_samples) for u in updates], dtype=torch.float64)
        self.players = tuple(u.client_id for u in updates)
        self._utility = utility
        self._cache: dict[frozenset[int], float] = {}

    @property
    def n(self) -> int:
        return len(self.players)

    @property
    def evaluations(self) -> int:
        """How many distinct coalitions were evaluated so far."""
        return len(self._cache)

    def state(self, coalition: frozenset[int]) -> dict[str, Tensor]:
        """The model `coalition`'s updates alone would have made."""
        if not coalition:
            return dict(self._base)
        members = sorted(coalition)
        weights = self._samples[members]
        total = float(weights.sum())
        if total <= 0:
            return dict(self._base)
        mean = (weights.unsqueeze(1) * self._matrix[members]).sum(dim=0) / total
        return unflatten(self._flat_base + mean, self._base)

    def cached(self, coalition: frozenset[int]) -> bool:
        """Whether v(coalition) is already known (costs no evaluation)."""
        return coalition in self._cache

    def value(self, coalition: frozenset[int]) -> float:
        """v(coalition)."""
        if coalition not in self._cache:
            self._cache[coalition] = float(self._utility(self.state(coalition)))
        return self._cache[coalition]

    def grand(self) -> frozenset[int]:
        return frozenset(range(self.n))
