"""The study's preprocessing statistics, computed through the round protocol: a statistics round.

A study whose schema standardizes or imputes needs means, variances and level counts of all the
hospitals' rows. When its plan does not carry them (`fl.roles.plan.StudyPlan.statistics_round`),
round 0 is a statistics round, run by this learner around the plan's own (`inner`) learner, with
no special case in the roles:

* the state is the inner learner's plus the study statistics (`consent.combines
  .STATISTICS_PREFIX` + `ready`, `rows`, `hospitals`, `means`, `variances`, `classes`,
  `levels.<j>`), zero and `ready` = 0 in round 0's base;
* round 0 (base not ready): each hospital ships the sums of its consented rows
  (`fl.preprocess.LocalStats`: row count, per numeric column the count of values, their sum and
  sum of squares, per categorical column the count of every level, per class the rows), with its
  patient commitment like any update; the server adds them (sums, not averages) and round 0's
  model, on chain by hash, is the inner learner's initial state with the study statistics. The
  summed totals are published in the round metrics (`consent.combines.COMBINE_EXTENSION`, kind
  "statistics") and the `combine` audit check recomputes the statistics from them;
* every later round: each hospital encodes its consented rows with the statistics of the round's
  base (`fl.preprocess.encode_dataset`, from its validated table, never from its own sums) and
  runs the inner learner's step; the server combines with the inner learner and carries the
  statistics over unchanged.

In a secure-aggregation study these sums would be secure-aggregated like any update: they are
plain sums. The roles do not run secagg yet (`fl.roles.plan`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import ClassVar, Final

import numpy as np
import torch
from torch import Tensor

from consent.combines import (
    COMBINE_EXTENSION,
    STATISTICS_PREFIX,
    CombineTotals,
    statistics_state,
)
from fl.data import Examples, HospitalDataset, RecordDataset
from fl.errors import AggregationError, LearnerPlanError, NoTrainingDataError
from fl.learner import Learner
from fl.learners.closed_form import sample_shares
from fl.models import ModelSpec
from fl.preprocess import LocalStats, StudyStats, encode_dataset
from fl.schema import StudySchema
from fl.strategy import Aggregation, ClientUpdate, RejectedUpdate, Strategy, screen_updates
from fl.train import LocalResult, LocalTrainingConfig, Metrics

__all__ = ["UPDATE_PREFIX", "PreprocessingStatistics", "is_ready", "study_stats"]

UPDATE_PREFIX: Final = "statistics."
"""Prefix of the tensors a hospital ships in the statistics round (never an inner learner's)."""

_READY: Final = STATISTICS_PREFIX + "ready"


def _f64(values: object) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(values, dtype=np.float64).reshape(-1))


def is_ready(state: Mapping[str, Tensor]) -> bool:
    """Whether `state` carries the study statistics (the statistics round is behind it)."""
    return bool(state[_READY][0] > 0)


def study_stats(state: Mapping[str, Tensor]) -> StudyStats:
    """The study statistics a ready `state` carries."""
    p = STATISTICS_PREFIX
    n_levels = sum(1 for name in state if name.startswith(p + "levels."))
    return StudyStats(
        rows=int(state[p + "rows"][0]),
        means=state[p + "means"].double().numpy(),
        variances=state[p + "variances"].double().numpy(),
        levels=tuple(state[f"{p}levels.{j}"].double().numpy() for j in range(n_levels)),
        classes=state[p + "classes"].double().numpy(),
        hospitals=int(state[p + "hospitals"][0]),
    )


def _inner(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    return {k: v for k, v in state.items() if not k.startswith(STATISTICS_PREFIX)}


def _statistics(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    return {k: v for k, v in state.items() if k.startswith(STATISTICS_PREFIX)}


class PreprocessingStatistics(Learner):
    """`inner`, preceded by a statistics round over the hospitals' consented rows."""

    name: ClassVar[str] = "preprocessing-statistics"

    def __init__(self, inner: Learner, schema: StudySchema) -> None:
        self.inner = inner
        self._schema = schema

    def _shapes(self) -> dict[str, int]:
        """Name -> length of the statistics tensors (model state and update alike)."""
        numeric = sum(1 for c in self._schema.columns if c.type == "numeric")
        cats = [c for c in self._schema.columns if c.type == "categorical"]
        return {
            "rows": 1,
            "counts": numeric,
            "sums": numeric,
            "squares": numeric,
            "classes": self._schema.task.n_classes,
            **{f"levels.{j}": len(c.levels) for j, c in enumerate(cats)},
        }

    def check_plan(self, spec: ModelSpec, strategy: str) -> None:
        self.inner.check_plan(spec, strategy)

    def initial_state(self, spec: ModelSpec, *, seed: int) -> dict[str, Tensor]:
        shapes = self._shapes()
        numeric = shapes["counts"]
        body = {
            "ready": 1,
            "rows": 1,
            "hospitals": 1,
            "means": numeric,
            "variances": numeric,
            "classes": shapes["classes"],
            **{k: v for k, v in shapes.items() if k.startswith("levels.")},
        }
        zeros = {
            STATISTICS_PREFIX + k: torch.zeros(n, dtype=torch.float64) for k, n in body.items()
        }
        return {**self.inner.initial_state(spec, seed=seed), **zeros}

    def local_step(
        self,
        spec: ModelSpec,
        base: Mapping[str, Tensor],
        dataset: HospitalDataset,
        config: LocalTrainingConfig,
    ) -> LocalResult:
        if is_ready(base):
            rows = encode_dataset(dataset, study_stats(base))  # the study's, never its own
            return self.inner.local_step(spec, _inner(base), rows, config)
        if len(dataset) == 0:
            raise NoTrainingDataError("no rows to sum")
        if dataset.table is None:
            raise LearnerPlanError("the statistics round sums rows read through the study schema")
        local = LocalStats.of(dataset.table)
        body = {
            "rows": [local.rows],
            "counts": local.counts,
            "sums": local.sums,
            "squares": local.squares,
            "classes": local.classes,
            **{f"levels.{j}": lv for j, lv in enumerate(local.levels)},
        }
        delta = {UPDATE_PREFIX + k: _f64(v) for k, v in body.items()}
        return LocalResult(delta=delta, num_samples=len(dataset), train_loss=math.nan)

    def update_template(self, base: Mapping[str, Tensor]) -> Mapping[str, Tensor]:
        if is_ready(base):
            return self.inner.update_template(_inner(base))
        return {
            UPDATE_PREFIX + k: torch.zeros(n, dtype=torch.float64)
            for k, n in self._shapes().items()
        }

    def screen(
        self, base: Mapping[str, Tensor], updates: Sequence[ClientUpdate]
    ) -> tuple[list[ClientUpdate], list[RejectedUpdate]]:
        """`base` is the update template (`fl.roles.collect`). In the statistics round: shapes
        and finite values as any update, and sums that can be sums: counts are whole numbers
        >= 0, at least one row, no column counting more values than rows, squares >= 0."""
        if not any(name.startswith(UPDATE_PREFIX) for name in base):
            return self.inner.screen(base, updates)
        accepted, rejected = screen_updates(base, updates)
        kept: list[ClientUpdate] = []
        for update in accepted:
            problem = _implausible(
                {k.removeprefix(UPDATE_PREFIX): v for k, v in update.delta.items()}
            )
            if problem is None:
                kept.append(update)
            else:
                rejected.append(RejectedUpdate(update, AggregationError(problem)))
        return kept, rejected

    def combine(
        self, base: Mapping[str, Tensor], updates: Sequence[ClientUpdate], strategy: Strategy
    ) -> Aggregation:
        if is_ready(base):
            inner = self.inner.combine(_inner(base), updates, strategy)
            state = {**inner.state, **_statistics(base)}
            return Aggregation(state, inner.decisions, inner.extensions)
        if not updates:
            raise AggregationError("nothing to combine: no statistics")
        names = [name.removeprefix(UPDATE_PREFIX) for name in updates[0].delta]
        tensors = {
            name: np.sum([u.delta[UPDATE_PREFIX + name].double().numpy() for u in updates], axis=0)
            for name in names
        }
        tensors["hospitals"] = np.array([float(len(updates))])
        totals = CombineTotals(self.name, "statistics", tensors)
        try:  # the same maths the `combine` audit check recomputes the statistics with
            stats = statistics_state(totals)
        except ValueError as exc:
            raise AggregationError(f"the summed statistics are unusable: {exc}") from exc
        state = {**_inner(base), **{k: _f64(v) for k, v in stats.items()}}
        return Aggregation(
            state, sample_shares(updates), {COMBINE_EXTENSION: totals.to_json_dict()}
        )

    def evaluate(self, spec: ModelSpec, state: Mapping[str, Tensor], dataset: Examples) -> Metrics:
        """The inner learner's metrics on `dataset` encoded with `state`'s statistics."""
        if not is_ready(state):
            raise LearnerPlanError("no study statistics yet: nothing can be evaluated")
        stats = study_stats(state)
        if isinstance(dataset, HospitalDataset):
            return self.inner.evaluate(spec, _inner(state), encode_dataset(dataset, stats))
        if isinstance(dataset, RecordDataset):
            return self.inner.evaluate(spec, _inner(state), encode_dataset(dataset, stats))
        raise LearnerPlanError("evaluation rows must be read through the study schema")


def _implausible(sums: Mapping[str, Tensor]) -> str | None:
    """Why these statistics-round sums cannot be a hospital's (None if they can)."""
    counts = [
        v for k, v in sums.items() if k in ("rows", "counts", "classes") or k.startswith("levels.")
    ]
    if any(bool((c < 0).any()) or not bool((c == c.round()).all()) for c in counts):
        return "the counts are not whole numbers >= 0"
    rows = float(sums["rows"][0])
    if rows < 1:
        return "the statistics count no rows"
    if bool((sums["counts"] > rows).any()):
        return "a column counts more values than there are rows"
    if bool((sums["squares"] < 0).any()):
        return "a sum of squares is negative"
    if any(float(v.sum()) > rows for k, v in sums.items() if k.startswith("levels.")):
        return "a categorical column counts more levels than there are rows"
    if len(sums["classes"]) and float(sums["classes"].sum()) != rows:
        return "the class counts do not add up to the rows"
    return None
