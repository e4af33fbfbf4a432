"""The learner seam: what a hospital computes locally, paired with how the server combines it.

A learner owns both halves so that the roles need no special case per kind of learning:

* `local_step` runs at the hospital on its consented rows and returns the tensors it ships
  (`LocalResult.delta`) with a sample count;
* `update_template` gives the names, shapes and dtypes of those tensors, against which the
  aggregator decodes and screens each update;
* `combine` turns the round's base state and the screened updates into the next state and a
  decision per update (`fl.strategy.Aggregation`).

and, with defaults that fit a torch model trained by SGD:

* `initial_state` is round 0's base state (the plan's `initial_state` asks the learner);
* `evaluate` gives the metrics of a state on held-out rows (the aggregator's test metrics);
* `check_plan` refuses a model spec or strategy the learner cannot work with (at plan build).

"sgd-delta" (`fl.learners.sgd_delta`): local SGD, ship trained - base, combine with the plan's
strategy. The sufficient-statistics learners ship sums and `combine` adds them (sums, not
averages): "ridge" / "least-squares" (`fl.learners.closed_form`: X^T X, X^T y, solved in closed
form) and "kmeans" (`fl.learners.federated_kmeans`: a seeding round, then per-cluster sums and
counts), through the same roles; so does the preprocessing statistics round that precedes any of
them when the plan needs it (`fl.learners.statistics`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import ClassVar

from torch import Tensor

from fl.data import Examples, HospitalDataset
from fl.models import ModelSpec, initial_state
from fl.strategy import Aggregation, ClientUpdate, RejectedUpdate, Strategy
from fl.train import LocalResult, LocalTrainingConfig, Metrics, evaluate

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

    def initial_state(self, spec: ModelSpec, *, seed: int) -> dict[str, Tensor]:
        """Round 0's base state (default: the freshly initialised torch model of `spec`)."""
        return initial_state(spec, seed=seed)

    def evaluate(self, spec: ModelSpec, state: Mapping[str, Tensor], dataset: Examples) -> Metrics:
        """The metrics of `state` on `dataset` (default: `fl.train.evaluate`)."""
        return evaluate(spec, state, dataset)

    def check_plan(self, spec: ModelSpec, strategy: str) -> None:
        """Raise `LearnerPlanError` unless this learner works with `spec` and `strategy`."""
        del spec, strategy
