"""The learner seam: what a hospital computes locally, paired with how the server combines it.

A learner owns both halves so that the roles need no special case per kind of learning:

* `local_step` runs at the hospital on its consented rows and returns the tensors it ships
  (`LocalResult.delta`) with a sample count;
* `update_template` gives the names, shapes and dtypes of those tensors, against which the
  aggregator decodes and screens each update;
* `combine` turns the round's base state and the screened updates into the next state and a
  decision per update (`fl.strategy.Aggregation`).

Today's learner is "sgd-delta" (`fl.learners.sgd_delta`): local SGD, ship trained - base, combine
with the plan's strategy. A learner that ships sufficient statistics (k-means sums and counts per
centroid; ridge X^T X and X^T y) returns those tensors from `local_step`, declares their shapes in
`update_template` and sums them in `combine`, through the same roles.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import ClassVar

from torch import Tensor

from fl.data import HospitalDataset
from fl.models import ModelSpec
from fl.strategy import Aggregation, ClientUpdate, RejectedUpdate, Strategy
from fl.train import LocalResult, LocalTrainingConfig

__all__ = ["Learner"]


class Learner(ABC):
    """One kind of federated learning: the hospital's local step and the server's combine."""

    name: ClassVar[str]
    """The registry name, used in the study plan."""

    @abstractmethod
    def local_step(
        self,
        spec: ModelSpec,
        base: Mapping[str, Tensor],
        dataset: HospitalDataset,
        config: LocalTrainingConfig,
    ) -> LocalResult:
        """What the hospital ships for this round, computed on `dataset` only."""

    @abstractmethod
    def update_template(self, base: Mapping[str, Tensor]) -> Mapping[str, Tensor]:
        """Tensors shaped like what `local_step` ships (used to decode and screen updates)."""

    @abstractmethod
    def screen(
        self, base: Mapping[str, Tensor], updates: Sequence[ClientUpdate]
    ) -> tuple[list[ClientUpdate], list[RejectedUpdate]]:
        """Split `updates` into those fit to combine and the rejected ones with reasons."""

    @abstractmethod
    def combine(
        self, base: Mapping[str, Tensor], updates: Sequence[ClientUpdate], strategy: Strategy
    ) -> Aggregation:
        """The next global state from the screened `updates`, with a decision per update."""
