"""The SGD-delta learner: local SGD from the round's base, ship trained - base, combine the
deltas with the study's strategy (FedAvg by default). What every study so far has used."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

from torch import Tensor

from fl.data import HospitalDataset
from fl.learner import Learner
from fl.models import ModelSpec
from fl.strategy import Aggregation, ClientUpdate, RejectedUpdate, Strategy, screen_updates
from fl.train import LocalResult, LocalTrainingConfig, train_local

__all__ = ["SgdDelta"]


class SgdDelta(Learner):
    """Ships a model delta shaped like the base model."""

    name: ClassVar[str] = "sgd-delta"

    def local_step(
        self,
        spec: ModelSpec,
        base: Mapping[str, Tensor],
        dataset: HospitalDataset,
        config: LocalTrainingConfig,
    ) -> LocalResult:
        return train_local(spec, base, dataset, config)

    def update_template(self, base: Mapping[str, Tensor]) -> Mapping[str, Tensor]:
        return base

    def screen(
        self, base: Mapping[str, Tensor], updates: Sequence[ClientUpdate]
    ) -> tuple[list[ClientUpdate], list[RejectedUpdate]]:
        return screen_updates(base, updates)

    def combine(
        self, base: Mapping[str, Tensor], updates: Sequence[ClientUpdate], strategy: Strategy
    ) -> Aggregation:
        return strategy.aggregate(base, updates)
