"""Linear and ridge regression in closed form, from sufficient statistics summed across hospitals.

Each hospital sends `RidgeStats.of(X, y)`: the Gram matrix of its rows with a constant column
appended, `[X 1]^T [X 1]`, and `[X 1]^T y` (sums only, so they add up exactly and fit a secure
sum). The server adds them (`combine`) and solves

    ([X 1]^T [X 1] + alpha * D) theta = [X 1]^T y,   D = diag(1, ..., 1, 0)

(the intercept is not penalized), which is the minimiser of ||y - X w - b||^2 + alpha ||w||^2:
the same problem scikit-learn's `Ridge(alpha, fit_intercept=True)` solves on the pooled rows
(`alpha = 0` is ordinary least squares, `LinearRegression`). Written by hand because it is one
linear solve over summed matrices; scikit-learn has no entry point that takes the sums.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from consent.combines import ridge_solution
from fl.errors import AggregationError

__all__ = ["RidgeModel", "RidgeStats", "combine", "solve"]


@dataclass(frozen=True, eq=False, slots=True)
class RidgeStats:
    """The sufficient statistics of a set of rows (no row can be read back from them alone)."""

    gram: npt.NDArray[np.float64]
    """(d + 1, d + 1): [X 1]^T [X 1]."""
    moment: npt.NDArray[np.float64]
    """(d + 1,): [X 1]^T y."""
    rows: int

    @classmethod
    def of(cls, features: npt.ArrayLike, labels: npt.ArrayLike) -> RidgeStats:
        x = np.asarray(features, dtype=np.float64)
        y = np.asarray(labels, dtype=np.float64)
        if x.ndim != 2 or y.shape != (x.shape[0],):
            raise AggregationError(f"features {x.shape} and labels {y.shape} do not pair up")
        # asarray(float64): numpy 1.26's stubs (the `datasets` extra) type this hstack as bool_
        augmented = np.asarray(np.hstack([x, np.ones((x.shape[0], 1))]), dtype=np.float64)
        return cls(augmented.T @ augmented, augmented.T @ y, x.shape[0])


def combine(parts: Sequence[RidgeStats]) -> RidgeStats:
    """The statistics of all hospitals' rows together (the element-wise sum)."""
    if not parts:
        raise AggregationError("nothing to combine: no statistics")
    shape = parts[0].gram.shape
    for i, part in enumerate(parts):
        if part.gram.shape != shape or part.moment.shape != (shape[0],):
            raise AggregationError(f"statistics {i} have another width", index=i)
        if not (np.isfinite(part.gram).all() and np.isfinite(part.moment).all()):
            raise AggregationError(f"statistics {i} have non-finite values", index=i)
    return RidgeStats(
        np.sum([p.gram for p in parts], axis=0),
        np.sum([p.moment for p in parts], axis=0),
        sum(p.rows for p in parts),
    )


@dataclass(frozen=True, eq=False, slots=True)
class RidgeModel:
    coef: npt.NDArray[np.float64]
    intercept: float

    def predict(self, features: npt.ArrayLike) -> npt.NDArray[np.float64]:
        result: npt.NDArray[np.float64] = np.asarray(features, np.float64) @ self.coef
        return result + self.intercept


def solve(stats: RidgeStats, *, alpha: float = 1.0) -> RidgeModel:
    """The ridge (alpha > 0) or least-squares (alpha = 0) fit of the summed statistics."""
    if not (math.isfinite(alpha) and alpha >= 0):
        raise AggregationError(f"alpha must be finite and >= 0, got {alpha!r}")
    theta = ridge_solution(stats.gram, stats.moment, alpha)  # the audit recomputes the same
    return RidgeModel(np.asarray(theta[:-1], dtype=np.float64), float(theta[-1]))
