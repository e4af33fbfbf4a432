"""Federated k-means: seeding agreed from one seed, Lloyd rounds of sums and counts."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import load_iris, make_blobs
from sklearn.metrics import adjusted_rand_score

from fl.errors import AggregationError
from fl.learners import kmeans


def _parts(n: int, seed: int, k: int = 3) -> list[np.ndarray]:
    return np.array_split(np.random.default_rng(seed).permutation(n), k)


@pytest.mark.parametrize("data", ["iris", "blobs"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_federated_kmeans_reaches_99_percent_of_sklearn_ari_on_pooled_rows(
    data: str, seed: int
) -> None:
    x, truth = (
        load_iris(return_X_y=True) if data == "iris" else make_blobs(600, centers=4, random_state=0)
    )
    k = len(set(truth))
    parts = [x[p] for p in _parts(len(x), seed)]
    fit = kmeans.fit_federated(parts, k, seed=seed, n_init=10)
    central = KMeans(k, n_init=10, random_state=seed, tol=0.0).fit(x)
    federated = kmeans.assign(x, fit.centroids)
    assert adjusted_rand_score(truth, federated) >= 0.99 * adjusted_rand_score(
        truth, central.labels_
    )
    assert adjusted_rand_score(central.labels_, federated) >= 0.99
    assert fit.inertia == pytest.approx(central.inertia_, rel=1e-6)


def test_one_round_equals_one_lloyd_iteration_on_the_pooled_rows() -> None:
    x, _ = make_blobs(300, centers=3, random_state=1)
    centroids = x[:3].copy()
    parts = [x[p] for p in _parts(len(x), 0)]
    federated = kmeans.step(
        centroids, kmeans.combine([kmeans.ClusterSums.of(p, centroids) for p in parts])
    )
    labels = kmeans.assign(x, centroids)
    pooled = np.stack([x[labels == j].mean(axis=0) for j in range(3)])
    np.testing.assert_allclose(federated, pooled, atol=1e-12)


def test_seeding_is_deterministic_from_the_seed_and_differs_across_seeds() -> None:
    x, _ = make_blobs(300, centers=5, random_state=2)
    parts = [x[p] for p in _parts(len(x), 0)]

    def seeds(seed: int) -> np.ndarray:
        summaries = [
            kmeans.seed_summary(p, 5, seed=kmeans.local_seed(seed, i)) for i, p in enumerate(parts)
        ]
        return kmeans.agree_seeds(summaries, 5, seed=seed)

    np.testing.assert_array_equal(seeds(7), seeds(7))
    assert not np.array_equal(seeds(7), seeds(8))


def test_seed_summaries_are_local_means_not_single_rows() -> None:
    x, _ = make_blobs(200, centers=2, random_state=3)
    summary = kmeans.seed_summary(x, 2, seed=0)
    assert summary.weights.sum() == len(x)
    assert (summary.weights > 1).all()


def test_an_empty_cluster_keeps_its_centroid() -> None:
    centroids = np.array([[0.0, 0.0], [100.0, 100.0]])
    total = kmeans.ClusterSums.of(np.array([[1.0, 1.0], [-1.0, -1.0]]), centroids)
    np.testing.assert_array_equal(kmeans.step(centroids, total)[1], centroids[1])


def test_mismatched_or_negative_cluster_sums_are_refused() -> None:
    a = kmeans.ClusterSums(np.zeros((2, 2)), np.zeros(2), 0.0)
    with pytest.raises(AggregationError, match="sums 1"):
        kmeans.combine([a, kmeans.ClusterSums(np.zeros((3, 2)), np.zeros(3), 0.0)])
    with pytest.raises(AggregationError, match="sums 0"):
        kmeans.combine([kmeans.ClusterSums(np.zeros((2, 2)), np.array([-1.0, 0.0]), 0.0)])
