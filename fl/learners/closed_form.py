"""Linear and ridge regression in closed form, through the learner seam.

Each hospital ships the sufficient statistics of its consented rows (`fl.learners.ridge.RidgeStats`:
`gram` = [X 1]^T [X 1] and `moment` = [X 1]^T y, float64), never a model. The server adds them
(sums, not averages: the result is exactly the statistics of the pooled rows) and solves the
ridge system once, so one round gives the centralized fit. The state is the linear regression
model's ("0.weight" (1, d), "0.bias" (1,)), kept in float64 so the solution is not rounded
(equal to scikit-learn's `Ridge` / `LinearRegression` on the pooled rows to 1e-6); a later round
repeats the same sums over the hospitals' rows of that round.

"ridge" penalizes with alpha = 1 (scikit-learn's default), "least-squares" is alpha = 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import ClassVar

import numpy as np
import torch
from sklearn.metrics import mean_absolute_error, r2_score
from torch import Tensor

from consent.combines import COMBINE_EXTENSION, CombineTotals
from fl.data import Examples, HospitalDataset
from fl.errors import AggregationError, LearnerPlanError, NoTrainingDataError
from fl.learner import Learner
from fl.learners import ridge
from fl.models import ModelSpec
from fl.strategy import (
    Aggregation,
    ClientUpdate,
    RejectedUpdate,
    Strategy,
    UpdateDecision,
    screen_updates,
)
from fl.train import LocalResult, LocalTrainingConfig, Metrics, RegressionMetrics

__all__ = ["LeastSquares", "Ridge", "sample_shares"]

_WEIGHT, _BIAS = "0.weight", "0.bias"


def sample_shares(updates: Sequence[ClientUpdate]) -> tuple[UpdateDecision, ...]:
    """Every summed update kept, with its share of the samples (the weights the audit checks are
    the on-chain patient counts; a sum is no weighted mean, the share only reports it)."""
    total = sum(u.num_samples for u in updates)
    return tuple(UpdateDecision(u.client_id, True, u.num_samples / total) for u in updates)


def _width(base: Mapping[str, Tensor]) -> int:
    return int(base[_WEIGHT].shape[1])


class Ridge(Learner):
    """Closed-form ridge regression (alpha = 1) from summed sufficient statistics."""

    name: ClassVar[str] = "ridge"
    alpha: ClassVar[float] = 1.0

    def check_plan(self, spec: ModelSpec, strategy: str) -> None:
        if spec.kind != "linear" or spec.task != "regression":
            raise LearnerPlanError(
                f"{self.name} fits a linear regression model, not {spec.kind} {spec.task}"
            )
        if strategy != "fedavg":
            raise LearnerPlanError(f"{self.name} sums statistics; strategy {strategy!r} is unused")

    def initial_state(self, spec: ModelSpec, *, seed: int) -> dict[str, Tensor]:
        del seed  # nothing random: the first round's solve replaces it
        return {
            _WEIGHT: torch.zeros((1, spec.n_features), dtype=torch.float64),
            _BIAS: torch.zeros((1,), dtype=torch.float64),
        }

    def local_step(
        self,
        spec: ModelSpec,
        base: Mapping[str, Tensor],
        dataset: HospitalDataset,
        config: LocalTrainingConfig,
    ) -> LocalResult:
        del spec, config
        if len(dataset) == 0:
            raise NoTrainingDataError("no rows to compute statistics on")
        x = dataset.features.double().numpy()
        y = dataset.labels.double().numpy()
        stats = ridge.RidgeStats.of(x, y)
        residual = y - (x @ base[_WEIGHT].double().numpy()[0] + float(base[_BIAS][0]))
        return LocalResult(
            delta={"gram": torch.from_numpy(stats.gram), "moment": torch.from_numpy(stats.moment)},
            num_samples=len(dataset),
            train_loss=float(np.mean(residual**2)),
        )

    def update_template(self, base: Mapping[str, Tensor]) -> Mapping[str, Tensor]:
        d = _width(base) + 1
        return {
            "gram": torch.zeros((d, d), dtype=torch.float64),
            "moment": torch.zeros((d,), dtype=torch.float64),
        }

    def screen(
        self, base: Mapping[str, Tensor], updates: Sequence[ClientUpdate]
    ) -> tuple[list[ClientUpdate], list[RejectedUpdate]]:
        """Shape and finiteness as any update, and a Gram matrix that can be one: symmetric, a
        non-negative diagonal, its constant-column entry a whole number of rows (>= 1)."""
        accepted, rejected = screen_updates(base, updates)
        kept: list[ClientUpdate] = []
        for update in accepted:
            gram = update.delta["gram"]
            rows = float(gram[-1, -1])
            if not bool(torch.allclose(gram, gram.T, rtol=1e-9, atol=1e-9)):
                problem = "the Gram matrix is not symmetric"
            elif bool((torch.diagonal(gram) < 0).any()):
                problem = "the Gram matrix has a negative diagonal entry"
            elif rows < 1 or rows != math.floor(rows):
                problem = f"the Gram matrix counts {rows!r} rows"
            else:
                kept.append(update)
                continue
            rejected.append(RejectedUpdate(update, AggregationError(problem)))
        return kept, rejected

    def combine(
        self, base: Mapping[str, Tensor], updates: Sequence[ClientUpdate], strategy: Strategy
    ) -> Aggregation:
        del strategy  # the statistics add up; nothing is averaged
        parts = [
            ridge.RidgeStats(
                u.delta["gram"].double().numpy(),
                u.delta["moment"].double().numpy(),
                round(float(u.delta["gram"][-1, -1])),
            )
            for u in updates
        ]
        total = ridge.combine(parts)
        fit = ridge.solve(total, alpha=self.alpha)
        state = {
            _WEIGHT: torch.from_numpy(fit.coef.copy()).reshape(1, -1),
            _BIAS: torch.tensor([fit.intercept], dtype=torch.float64),
        }
        if state[_WEIGHT].shape != base[_WEIGHT].shape:
            raise AggregationError("the statistics do not fit the model's width")
        totals = CombineTotals(
            self.name, "ridge", {"gram": total.gram, "moment": total.moment}, self.alpha
        )
        return Aggregation(
            state, sample_shares(updates), {COMBINE_EXTENSION: totals.to_json_dict()}
        )

    def evaluate(self, spec: ModelSpec, state: Mapping[str, Tensor], dataset: Examples) -> Metrics:
        del spec
        if len(dataset) == 0:
            raise NoTrainingDataError("no rows to evaluate on")
        model = ridge.RidgeModel(state[_WEIGHT].double().numpy()[0], float(state[_BIAS][0]))
        y = dataset.labels.double().numpy()
        predicted = model.predict(dataset.features.double().numpy())
        return RegressionMetrics(
            num_samples=len(dataset),
            mse=float(np.mean((predicted - y) ** 2)),
            mae=float(mean_absolute_error(y, predicted)),
            r2=float(r2_score(y, predicted)) if len(dataset) > 1 else math.nan,
        )


class LeastSquares(Ridge):
    """Ordinary least squares (alpha = 0) from summed sufficient statistics."""

    name: ClassVar[str] = "least-squares"
    alpha: ClassVar[float] = 0.0
