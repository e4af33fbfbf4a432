"""The server combines of the sufficient-statistics learners, as pure maths both floors share.

The aggregator (`fl.learners.closed_form`, `fl.learners.federated_kmeans`) adds the hospitals'
sums and applies these; it publishes the added totals in the round metrics artifact (extension
`COMBINE_EXTENSION`, see `CombineTotals`), and the audit (`chain.audit.combine`) applies the same
functions to the published totals and the round's base model and requires the published model.
One definition, so the check cannot drift from what the aggregator does.

* Ridge / least squares: theta solves ([X 1]^T [X 1] + alpha D) theta = [X 1]^T y with
  D = diag(1, ..., 1, 0) (the intercept is not penalized): scikit-learn's `Ridge` problem.
* k-means (one Lloyd step): every centroid moves to its cluster's mean; an empty cluster keeps it.
  The study runs several seedings side by side (`candidates`); each round the hospitals report
  every candidate's inertia on their rows, and the study's centroids are the candidate with the
  lowest federated inertia (`lloyd_candidates`), as scikit-learn's `n_init` keeps its best run.
* k-means seeding: weighted k-means++ (scikit-learn's `kmeans_plusplus`) over all hospitals'
  summary centroids, once per candidate, with seeds `seed`, `seed + 1`, ... (`kmeans_candidates`).
* Preprocessing statistics: means and population variances from the summed per-column counts,
  sums and sums of squares (`column_moments`).
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
    "STATISTICS_PREFIX",
    "CombineTotals",
    "CombineTotalsError",
    "column_moments",
    "kmeans_candidates",
    "kmeans_seeding",
    "lloyd_candidates",
    "lloyd_step",
    "ridge_solution",
    "statistics_state",
]

COMBINE_EXTENSION: Final = "consentfl.sum-combine/1"
"""The round metrics `extensions` key under which a sum-combining learner publishes its totals."""

STATISTICS_PREFIX: Final = "preprocessing."
"""Prefix of the study statistics' tensors in the model state (`fl.learners.statistics`)."""

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


def kmeans_candidates(centers: Matrix, weights: Matrix, k: int, seed: int, n: int) -> Matrix:
    """`n` seedings (n, k, d): `kmeans_seeding` with seeds `seed`, `seed + 1`, ..."""
    if n < 1:
        raise CombineTotalsError(f"at least one seeding is needed, got {n}")
    return np.stack([kmeans_seeding(centers, weights, k, seed + i) for i in range(n)])


def lloyd_candidates(
    candidates: Matrix, sums: Matrix, counts: Matrix, inertias: Matrix
) -> tuple[Matrix, int]:
    """One Lloyd step of every candidate (n, k, d), and the index of the candidate whose
    federated inertia (the hospitals' summed `inertias`, of the candidates before the step) is
    lowest (the first of equals): the study's centroids are that candidate's moved ones."""
    if not (sums.shape == candidates.shape and counts.shape == candidates.shape[:2]):
        raise CombineTotalsError("the sums and counts do not have the candidates' shape")
    if inertias.shape != (len(candidates),):
        raise CombineTotalsError("one inertia per candidate is needed")
    moved = np.stack(
        [lloyd_step(c, s, n) for c, s, n in zip(candidates, sums, counts, strict=True)]
    )
    return moved, int(np.argmin(inertias))


def column_moments(counts: Matrix, sums: Matrix, squares: Matrix) -> tuple[Matrix, Matrix]:
    """Per column: the mean and the population variance (divided by the count, as
    scikit-learn's `StandardScaler`) of the values whose count, sum and sum of squares are given
    (summed over hospitals). A column no hospital has a value in is an error."""
    if (counts <= 0).any():
        empty = int(np.flatnonzero(counts <= 0)[0])
        raise CombineTotalsError(f"numeric column {empty} has no value at any hospital")
    means = sums / counts
    # E[x^2] - E[x]^2 in float64: exact enough for standardized-scale clinical values (~1e-12
    # relative); clipped at 0 against rounding for a constant column
    variances = np.maximum(squares / counts - means**2, 0.0)
    return means, variances


@dataclass(frozen=True, slots=True)
class CombineTotals:
    """What a sum-combining learner added up in one round, as published for the audit.

    `kind` is "ridge" (`tensors`: gram, moment; `alpha`), "lloyd" (per candidate: sums, counts,
    inertia), "seeding" (the k-means++ seeding round: centers, weights, the hospitals' summaries
    together) or "statistics" (the preprocessing statistics round, `fl.learners.statistics`:
    rows, counts, sums, squares, classes and `levels.<j>` per categorical column).
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


def statistics_state(totals: CombineTotals) -> dict[str, Matrix]:
    """The model-state tensors (`STATISTICS_PREFIX` + name) the study statistics round's summed
    `totals` give: means and variances (`column_moments`), level and class counts as summed, the
    row and hospital counts, and `ready` = 1."""
    t = totals.tensors
    try:
        means, variances = column_moments(t["counts"], t["sums"], t["squares"])
        levels = {name: value for name, value in t.items() if name.startswith("levels.")}
        body = {
            "ready": np.ones(1),
            "rows": t["rows"],
            "hospitals": t["hospitals"],
            "means": means,
            "variances": variances,
            "classes": t["classes"],
            **levels,
        }
    except KeyError as exc:
        raise CombineTotalsError(f"statistics totals lack {exc}") from exc
    return {STATISTICS_PREFIX + name: np.asarray(v, dtype=np.float64) for name, v in body.items()}
