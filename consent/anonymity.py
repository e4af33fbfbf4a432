"""k-anonymity, l-diversity and t-closeness of a table over its quasi-identifiers.

Written with pandas group-bys rather than called from pyCANON: pyCANON 1.3.6 pins numpy 2.0.2,
pandas 2.3.3, scipy 1.15.3 and typer 0.23.2 exactly, so it cannot share the project's
environment (it would pin the CLI's typer, and anonymeter needs numpy < 1.27), and it loops in
Python over every equivalence class (minutes at 100k rows). The definitions are pyCANON's, and
`tests/unit/consent/test_anonymity_pycanon.py` checks these functions against pyCANON itself,
run in its own tool venv (`.venv-pycanon`):

* k: the size of the smallest equivalence class (rows equal on every quasi-identifier);
* l (distinct l-diversity): the fewest distinct values of a sensitive column in a class, the
  minimum over sensitive columns;
* t: the largest Earth Mover's Distance between a class's distribution of a sensitive column and
  the whole table's: the ordered distance for numeric columns (sum of absolute cumulative
  differences over the m distinct values, divided by m - 1), the equal distance (half the L1
  distance) otherwise; the maximum over sensitive columns.

Missing values count as a value of their own (pyCANON's classes are the same).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from consent.dataset_errors import UnknownColumnError, UnsuitableDataError

__all__ = ["AnonymityScores", "assess_anonymity", "check_columns", "equivalence_classes"]


@dataclass(frozen=True, slots=True)
class AnonymityScores:
    """k, l and t of one table, with the number of equivalence classes."""

    k: int
    l: int  # noqa: E741 - the name of the l-diversity score
    t_closeness: float
    classes: int


def check_columns(data: pd.DataFrame, *groups: Sequence[str]) -> None:
    """Raise `UnknownColumnError` for a named column that `data` lacks."""
    available = tuple(str(c) for c in data.columns)
    for group in groups:
        for column in group:
            if column not in data.columns:
                raise UnknownColumnError(column, available)


def equivalence_classes(data: pd.DataFrame, quasi_identifiers: Sequence[str]) -> pd.Series:
    """Each row's equivalence class number (rows equal on every quasi-identifier)."""
    return data.groupby(list(quasi_identifiers), dropna=False, sort=False).ngroup()


def _t_closeness(classes: pd.Series, column: pd.Series) -> float:
    table = pd.crosstab(classes, column.fillna("<NA>") if column.isna().any() else column)
    if table.shape[1] < 2:
        return 0.0  # one value in the whole table: every class has the table's distribution
    per_class = table.to_numpy(dtype=float)
    per_class /= per_class.sum(axis=1, keepdims=True)
    overall = table.to_numpy(dtype=float).sum(axis=0)
    overall /= overall.sum()
    diff = per_class - overall  # crosstab sorts its columns: numeric values in ascending order
    if pd.api.types.is_numeric_dtype(column):
        emd = np.abs(np.cumsum(diff, axis=1)).sum(axis=1) / (table.shape[1] - 1)
    else:
        emd = 0.5 * np.abs(diff).sum(axis=1)
    return float(emd.max())


def assess_anonymity(
    data: pd.DataFrame, quasi_identifiers: Sequence[str], sensitive: Sequence[str]
) -> AnonymityScores:
    """k, l and t of `data`; raises `UnknownColumnError` / `UnsuitableDataError`."""
    if not quasi_identifiers:
        raise UnsuitableDataError("name at least one quasi-identifier")
    if not sensitive:
        raise UnsuitableDataError("name at least one sensitive column")
    check_columns(data, quasi_identifiers, sensitive)
    if overlap := set(quasi_identifiers) & set(sensitive):
        raise UnsuitableDataError(f"columns both quasi-identifier and sensitive: {sorted(overlap)}")
    if len(data) == 0:
        raise UnsuitableDataError("the data has no rows")
    classes = equivalence_classes(data, quasi_identifiers)
    k = int(classes.value_counts().min())
    distinct = [int(data[s].groupby(classes).nunique(dropna=False).min()) for s in sensitive]
    t = max(_t_closeness(classes, data[s]) for s in sensitive)
    return AnonymityScores(k=k, l=min(distinct), t_closeness=t, classes=int(classes.nunique()))
