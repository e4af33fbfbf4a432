"""Generalization and suppression towards a target k.

Written here rather than taken from ANJANA (the maintained anonymization library of pyCANON's
authors, which is the one to use where it fits): ANJANA 1.2.3 pins numpy 2.0.2, pandas 2.3.3,
pyCANON 1.3.5 and, through it, typer exactly, so it cannot share this environment, and it needs
hand-written generalization hierarchies for every quasi-identifier. The method is the textbook
full-domain one (Samarati/Sweeney): numeric quasi-identifiers are coarsened to equal-width bins
(the bin's midpoint, so the column stays numeric and trainable), the column with the most
distinct values first, doubling the bin width, and categorical values rarer than k become "*";
once the rows left in classes smaller than k are at most `max_suppression` of the table, those
rows are suppressed. The result is re-assessed by the caller with `consent.anonymity`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

from consent.anonymity import check_columns, equivalence_classes
from consent.dataset_errors import UnsuitableDataError

__all__ = ["Generalization", "generalize"]

_BASE_BINS: Final = 64
_MAX_LEVELS: Final = 12


@dataclass(frozen=True, slots=True)
class Generalization:
    """The generalized table and what was done to reach k."""

    data: pd.DataFrame
    bin_widths: dict[str, float]
    suppressed_rows: int


def _coarsen(column: pd.Series, width: float) -> pd.Series:
    low = float(column.min())
    return (np.floor((column - low) / width) * width + low + width / 2).astype(float)


def _small_class_rows(data: pd.DataFrame, qi: Sequence[str], k: int) -> pd.Series:
    classes = equivalence_classes(data, qi)
    sizes = classes.map(classes.value_counts())
    return sizes < k


def generalize(
    data: pd.DataFrame, quasi_identifiers: Sequence[str], k: int, *, max_suppression: float = 0.05
) -> Generalization:
    """`data` generalized and suppressed until every class has at least `k` rows."""
    if k < 1:
        raise UnsuitableDataError(f"target k must be at least 1, got {k}")
    if not 0.0 <= max_suppression < 1.0:
        raise UnsuitableDataError("max_suppression must lie in [0, 1)")
    check_columns(data, quasi_identifiers)
    if len(data) < k:
        raise UnsuitableDataError(f"{len(data)} rows cannot be {k}-anonymous")
    out = data.copy()
    numeric = [q for q in quasi_identifiers if pd.api.types.is_numeric_dtype(out[q])]
    for q in quasi_identifiers:
        if q not in numeric:
            counts = out[q].map(out[q].value_counts())
            out[q] = out[q].astype(object).where(counts >= k, "*")
    widths = {q: 0.0 for q in numeric}
    levels = {q: 0 for q in numeric}
    budget = int(max_suppression * len(out))
    while int(_small_class_rows(out, quasi_identifiers, k).sum()) > budget:
        candidates = [q for q in numeric if levels[q] < _MAX_LEVELS]
        if not candidates:
            break
        target = max(candidates, key=lambda q: out[q].nunique())
        span = float(data[target].max() - data[target].min()) or 1.0
        levels[target] += 1
        widths[target] = span / _BASE_BINS * 2 ** (levels[target] - 1)
        out[target] = _coarsen(data[target], widths[target])
    small = _small_class_rows(out, quasi_identifiers, k)
    kept = out.loc[~small].reset_index(drop=True)
    if len(kept) == 0:
        raise UnsuitableDataError(f"no generalization keeps any row {k}-anonymous")
    return Generalization(kept, {q: w for q, w in widths.items() if w}, int(small.sum()))
