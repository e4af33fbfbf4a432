"""Closed-form linear/ridge regression from summed statistics equals scikit-learn on pooled rows."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LinearRegression, Ridge

from fl.errors import AggregationError
from fl.learners import ridge


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0, 25.0])
def test_federated_ridge_equals_sklearn_on_pooled_rows_to_1e_6(alpha: float) -> None:
    x, y = load_diabetes(return_X_y=True, scaled=False)
    parts = np.array_split(np.random.default_rng(3).permutation(len(y)), 3)
    stats = ridge.combine([ridge.RidgeStats.of(x[p], y[p]) for p in parts])
    model = ridge.solve(stats, alpha=alpha)
    reference = (Ridge(alpha=alpha) if alpha else LinearRegression()).fit(x, y)
    assert stats.rows == len(y)
    np.testing.assert_allclose(model.coef, reference.coef_, rtol=0, atol=1e-6)
    assert model.intercept == pytest.approx(reference.intercept_, abs=1e-6)
    np.testing.assert_allclose(model.predict(x), reference.predict(x), atol=1e-6)


def test_unequal_hospital_sizes_give_the_same_fit_as_one_hospital() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4))
    y = x @ np.array([1.0, -2.0, 0.5, 3.0]) + 0.7 + rng.normal(scale=0.1, size=200)
    together = ridge.solve(ridge.RidgeStats.of(x, y), alpha=2.0)
    apart = ridge.solve(
        ridge.combine([ridge.RidgeStats.of(x[:13], y[:13]), ridge.RidgeStats.of(x[13:], y[13:])]),
        alpha=2.0,
    )
    np.testing.assert_allclose(apart.coef, together.coef, atol=1e-10)


def test_statistics_of_another_width_are_refused_naming_the_hospital() -> None:
    a = ridge.RidgeStats.of(np.ones((3, 2)), np.ones(3))
    b = ridge.RidgeStats.of(np.ones((3, 3)), np.ones(3))
    with pytest.raises(AggregationError, match="statistics 1") as info:
        ridge.combine([a, b])
    assert info.value.index == 1


def test_non_finite_statistics_and_negative_alpha_are_refused() -> None:
    bad = ridge.RidgeStats(np.full((2, 2), np.nan), np.zeros(2), 1)
    with pytest.raises(AggregationError, match="non-finite"):
        ridge.combine([bad])
    with pytest.raises(AggregationError, match="alpha"):
        ridge.solve(ridge.RidgeStats.of(np.ones((3, 1)), np.ones(3)), alpha=-1.0)
