"""Federated k-means: seeding agreed from one seed, then Lloyd rounds of per-cluster sums, counts.

Seeding (k-means++-style, deterministic from the study's seed, which is on chain in the plan):
every hospital summarises its rows as `2k` local k-means centroids with their row counts
(`seed_summary`; local means of several rows, not any patient's row), and the server runs
weighted k-means++ (scikit-learn's `kmeans_plusplus`) over all hospitals' summaries with the
study seed (`agree_seeds`). Every party that redoes it with the same inputs gets the same
centroids.

Each round every hospital assigns its rows to the nearest centroid and sends, per cluster, the
sum of its rows and their count (`ClusterSums.of`); the server adds them (`combine`) and moves
every centroid to its cluster's mean (`step`; a cluster no hospital filled keeps its centroid).
That is exactly one Lloyd iteration over the pooled rows. `fit_federated` runs the whole thing
in process (seedings, rounds, best of `n_init` by federated inertia).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sklearn.cluster import KMeans

from consent.combines import kmeans_candidates, kmeans_seeding, lloyd_step
from fl.errors import AggregationError

__all__ = [
    "ClusterSums",
    "KMeansFit",
    "SeedSummary",
    "agree_candidates",
    "agree_seeds",
    "assign",
    "combine",
    "fit_federated",
    "local_seed",
    "seed_summary",
    "step",
]

Matrix = npt.NDArray[np.float64]


def local_seed(seed: int, hospital: int) -> int:
    """A distinct, reproducible seed for hospital `hospital`'s local summary."""
    return (seed * 1_000_003 + 7_919 * (hospital + 1)) % (2**32)


@dataclass(frozen=True, eq=False, slots=True)
class SeedSummary:
    """A hospital's rows summarised for seeding: local centroids and how many rows each has."""

    centers: Matrix
    weights: npt.NDArray[np.float64]


def seed_summary(features: npt.ArrayLike, k: int, *, seed: int) -> SeedSummary:
    """Up to `2k` local k-means centroids of `features`, weighted by their row counts."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or len(x) == 0:
        raise AggregationError("seeding needs a non-empty 2-D feature matrix")
    m = min(len(x), 2 * k)
    # scikit-learn takes a 32-bit seed; the roles' per-hospital seeds are 64-bit (fl.determinism)
    local = KMeans(n_clusters=m, n_init=1, random_state=seed % 2**32).fit(x)
    counts = np.bincount(local.labels_, minlength=m).astype(np.float64)
    keep = counts > 0
    return SeedSummary(local.cluster_centers_[keep], counts[keep])


def agree_seeds(summaries: Sequence[SeedSummary], k: int, *, seed: int) -> Matrix:
    """The `k` initial centroids: weighted k-means++ over every hospital's summary, `seed`ed."""
    if not summaries:
        raise AggregationError("no seeding summaries")
    centers = np.vstack([s.centers for s in summaries])
    weights = np.concatenate([s.weights for s in summaries])
    if len(centers) < k:
        raise AggregationError(f"{len(centers)} summary centroids cannot seed {k} clusters")
    return kmeans_seeding(centers, weights, k, seed)  # the audit recomputes the same


def agree_candidates(summaries: Sequence[SeedSummary], k: int, *, seed: int, n: int) -> Matrix:
    """`n` candidate seedings (n, k, d): `agree_seeds` with seeds `seed`, `seed + 1`, ..."""
    if not summaries:
        raise AggregationError("no seeding summaries")
    centers = np.vstack([s.centers for s in summaries])
    weights = np.concatenate([s.weights for s in summaries])
    if len(centers) < k:
        raise AggregationError(f"{len(centers)} summary centroids cannot seed {k} clusters")
    return kmeans_candidates(centers, weights, k, seed, n)  # the audit recomputes the same


def assign(features: npt.ArrayLike, centroids: Matrix) -> npt.NDArray[np.int64]:
    """The index of the nearest centroid (squared Euclidean distance) of every row."""
    x = np.asarray(features, dtype=np.float64)
    distances = ((x[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2)
    nearest: npt.NDArray[np.int64] = np.argmin(distances, axis=1).astype(np.int64)
    return nearest


@dataclass(frozen=True, eq=False, slots=True)
class ClusterSums:
    """Per cluster: the sum of the rows assigned to it and their count; and the inertia."""

    sums: Matrix
    counts: npt.NDArray[np.float64]
    inertia: float
    """Sum of squared distances of the rows to their centroid."""

    @classmethod
    def of(cls, features: npt.ArrayLike, centroids: Matrix) -> ClusterSums:
        x = np.asarray(features, dtype=np.float64)
        labels = assign(x, centroids)
        k = len(centroids)
        sums = np.zeros_like(centroids)
        np.add.at(sums, labels, x)
        counts = np.bincount(labels, minlength=k).astype(np.float64)
        inertia = float(((x - centroids[labels]) ** 2).sum())
        return cls(sums, counts, inertia)


def combine(parts: Sequence[ClusterSums]) -> ClusterSums:
    """All hospitals' sums, counts and inertia added up."""
    if not parts:
        raise AggregationError("nothing to combine: no cluster sums")
    shape = parts[0].sums.shape
    for i, part in enumerate(parts):
        if part.sums.shape != shape or part.counts.shape != (shape[0],):
            raise AggregationError(f"cluster sums {i} have another shape", index=i)
        if not (np.isfinite(part.sums).all() and (part.counts >= 0).all()):
            raise AggregationError(f"cluster sums {i} are not finite counts and sums", index=i)
    return ClusterSums(
        np.sum([p.sums for p in parts], axis=0),
        np.sum([p.counts for p in parts], axis=0),
        float(sum(p.inertia for p in parts)),
    )


def step(centroids: Matrix, total: ClusterSums) -> Matrix:
    """Every centroid moved to its cluster's mean; an empty cluster keeps its centroid."""
    return lloyd_step(centroids, total.sums, total.counts)  # the audit recomputes the same


@dataclass(frozen=True, eq=False, slots=True)
class KMeansFit:
    """The outcome of a federated k-means run (in process: for tests, simulation, benchmarks)."""

    centroids: Matrix
    inertia: float
    rounds: int
    init: int
    """Which of the `n_init` seedings won (lowest federated inertia)."""


def fit_federated(
    parts: Sequence[npt.ArrayLike],
    k: int,
    *,
    seed: int,
    n_init: int = 1,
    max_rounds: int = 100,
    tol: float = 1e-10,
) -> KMeansFit:
    """Federated k-means over the hospitals' `parts`: `n_init` seedings (seeds `seed`,
    `seed + 1`, ...), Lloyd rounds until no centroid moves more than `tol` (squared), and the run
    with the lowest inertia (itself a sum the hospitals send) wins, as in scikit-learn's `n_init`.
    """
    rows = [np.asarray(p, dtype=np.float64) for p in parts]
    best: KMeansFit | None = None
    for init in range(n_init):
        run_seed = seed + init
        summaries = [seed_summary(x, k, seed=local_seed(run_seed, i)) for i, x in enumerate(rows)]
        centroids = agree_seeds(summaries, k, seed=run_seed)
        done = 0
        for done in range(1, max_rounds + 1):  # noqa: B007 - `done` is the round count after
            moved = step(centroids, combine([ClusterSums.of(x, centroids) for x in rows]))
            shift = float(((moved - centroids) ** 2).sum(axis=1).max())
            centroids = moved
            if shift <= tol:
                break
        inertia = combine([ClusterSums.of(x, centroids) for x in rows]).inertia
        if best is None or inertia < best.inertia:
            best = KMeansFit(centroids, inertia, done, init)
    assert best is not None  # n_init >= 1
    return best
