"""The server combines of the sufficient-statistics learners, as pure maths both floors share.

The aggregator (`fl.learners.closed_form`, `fl.learners.federated_kmeans`) adds the hospitals'
sums and applies these; it publishes the added totals in the round metrics artifact (extension
`COMBINE_EXTENSION`, see `CombineTotals`), and the audit (`chain.audit.combine`) applies the same
functions to the published totals and the round's base model and requires the published model.
One definition, so the check cannot drift from what the aggregator does.

* Ridge / least squares: theta solves ([X 1]^T [X 1] + alpha D) theta = [X 1]^T y with
  D = diag(1, ..., 1, 0) (the intercept is not penalized): scikit-learn's `Ridge` problem.
* k-means (one Lloyd step): every centroid moves to its cluster's mean; an empty cluster keeps it.
* k-means seeding: weighted k-means++ (scikit-learn's `kmeans_plusplus`) over all hospitals'
  summary centroids with the study's seed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from sklearn.cluster import kmeans_plusplus

__all__ = [
    "COMBINE_EXTENSION",
    "CombineTotals",
    "CombineTotalsError",
    "kmeans_seeding",
    "lloyd_step",
    "ridge_solution",
]

COMBINE_EXTENSION: Final = "consentfl.sum-combine/1"
"""The round metrics `extensions` key under which a sum-combining learner publishes its totals."""

Matrix = npt.NDArray[np.float64]


class CombineTotalsError(ValueError):
    """Published totals that are malformed, or a combine over unusable numbers."""


def ridge_solution(gram: Matrix, moment: Matrix, alpha: float) -> Matrix:
    """theta = (coef..., intercept) of the summed statistics (see the module docstring)."""
    if not (math.isfinite(alpha) and alpha >= 0):
        raise CombineTotalsError(f"alpha must be finite and >= 0, got {alpha!r}")
    penalty = np.full(gram.shape[0], float(alpha))
    penalty[-1] = 0.0
    # lstsq, not solve: with alpha = 0 and collinear features the system is singular, and the
    # minimum-norm solution is what scikit-learn's LinearRegression returns too.
    theta = np.linalg.lstsq(gram + np.diag(penalty), moment, rcond=None)[0]
    return np.asarray(theta, dtype=np.float64)


def lloyd_step(centroids: Matrix, sums: Matrix, counts: Matrix) -> Matrix:
    """Every centroid moved to its cluster's mean (`sums / counts`); an empty one stays."""
    filled = counts > 0
    moved = centroids.copy()
    moved[filled] = sums[filled] / counts[filled, None]
    return moved


def kmeans_seeding(centers: Matrix, weights: Matrix, k: int, seed: int) -> Matrix:
    """The `k` initial centroids: weighted k-means++ over the summary `centers`, `seed`ed."""
    if len(centers) < k:
        raise CombineTotalsError(f"{len(centers)} summary centroids cannot seed {k} clusters")
    chosen, _ = kmeans_plusplus(centers, k, sample_weight=weights, random_state=seed % 2**32)
    return np.asarray(chosen, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class CombineTotals:
    """What a sum-combining learner added up in one round, as published for the audit.

    `kind` is "ridge" (`tensors`: gram, moment; `alpha`), "lloyd" (sums, counts) or "seeding"
    (the k-means++ seeding round: centers, weights, the hospitals' summaries together).
    """

    learner: str
    kind: str
    tensors: Mapping[str, Matrix]
    alpha: float = 0.0

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "learner": self.learner,
            "kind": self.kind,
            "alpha": self.alpha,
            "tensors": {name: value.tolist() for name, value in sorted(self.tensors.items())},
        }

    @classmethod
    def from_json_dict(cls, body: Mapping[str, Any]) -> CombineTotals:
        try:
            tensors = {
                str(name): np.asarray(value, dtype=np.float64)
                for name, value in dict(body["tensors"]).items()
            }
            totals = cls(str(body["learner"]), str(body["kind"]), tensors, float(body["alpha"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise CombineTotalsError(f"malformed combine totals: {exc}") from exc
        if not all(np.isfinite(t).all() for t in tensors.values()):
            raise CombineTotalsError("combine totals have non-finite values")
        return totals
