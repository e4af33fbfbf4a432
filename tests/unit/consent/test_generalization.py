"""Generalization towards a target k: the result is re-assessed and reaches k."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from consent.anonymity import assess_anonymity
from consent.dataset_errors import UnsuitableDataError
from consent.generalization import generalize


def _data(rows: int = 800) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 90, rows),
            "weight": rng.normal(75, 12, rows).round(1),
            "ward": rng.choice(
                ["a", "b", "c", "rare-1", "rare-2"], rows, p=[0.33, 0.33, 0.33, 0.005, 0.005]
            ),
            "label": rng.integers(0, 2, rows),
        }
    )


@pytest.mark.parametrize("k", [2, 5, 20])
def test_generalized_table_reaches_target_k_with_bounded_suppression(k: int) -> None:
    data = _data()
    qi = ("age", "weight", "ward")
    assert assess_anonymity(data, qi, ("label",)).k < k
    result = generalize(data, qi, k, max_suppression=0.05)
    assert assess_anonymity(result.data, qi, ("label",)).k >= k
    assert result.suppressed_rows <= 0.05 * len(data)
    assert len(result.data) == len(data) - result.suppressed_rows
    assert result.data["age"].dtype.kind == "f"  # still numeric: trainable
    assert set(data.columns) == set(result.data.columns)
    assert data["age"].dtype.kind == "i"  # the caller's table is untouched


def test_impossible_targets_are_named_errors() -> None:
    with pytest.raises(UnsuitableDataError):
        generalize(_data(10), ("age",), 11)
    with pytest.raises(UnsuitableDataError):
        generalize(_data(), ("age",), 0)
