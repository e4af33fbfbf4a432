"""Federated preprocessing statistics, and encoding a validated table with them.

No hospital standardizes on its own rows alone: each computes `LocalStats` (row count, per-column
counts, sums and sums of squares of the numeric columns, per-level counts of the categorical
ones, per-class label counts) — sums only, so they add up exactly across hospitals and can go
through a secure sum unchanged — and `combine` adds them into the study's `StudyStats` (means,
population variances, level counts), which every hospital then uses to `encode` its rows the same
way. Sums are float64: for standardized-scale clinical values the mean and variance agree with
the pooled computation to ~1e-12 relative (`tests/unit/fl/test_preprocess.py`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final, TypeVar

import numpy as np
import numpy.typing as npt
import torch

from consent.combines import CombineTotalsError, column_moments
from fl.data import HospitalDataset, RecordDataset
from fl.errors import SchemaError
from fl.schema.spec import StudySchema
from fl.schema.table import MISSING_CODE, UNKNOWN_CODE, SchemaTable

__all__ = [
    "STATS_FORMAT",
    "Encoded",
    "LocalStats",
    "StudyStats",
    "combine",
    "encode",
    "encode_dataset",
]

STATS_FORMAT: Final = "consentfl.preprocessing-stats/1"

_Rows = TypeVar("_Rows", HospitalDataset, RecordDataset)


def _floats(values: Any) -> npt.NDArray[np.float64]:
    return np.asarray(values, dtype=np.float64)


@dataclass(frozen=True, eq=False, slots=True)
class LocalStats:
    """One hospital's sums (no row leaves the hospital, only these aggregates)."""

    rows: int
    counts: npt.NDArray[np.float64]
    """Non-empty cells per numeric column."""
    sums: npt.NDArray[np.float64]
    squares: npt.NDArray[np.float64]
    levels: tuple[npt.NDArray[np.float64], ...]
    """Per categorical column, the count of every level (empty and unknown cells not counted)."""
    classes: npt.NDArray[np.float64]
    """Rows per class (binary, multiclass); empty otherwise."""

    @classmethod
    def of(cls, table: SchemaTable) -> LocalStats:
        """The sums of `table`'s rows."""
        schema = table.schema
        present = ~np.isnan(table.numeric)
        values = np.where(present, table.numeric, 0.0)
        cats = [c for c in schema.columns if c.type == "categorical"]
        levels = tuple(
            np.bincount(table.codes[:, j][table.codes[:, j] >= 0], minlength=len(c.levels)).astype(
                np.float64
            )
            for j, c in enumerate(cats)
        )
        n_classes = schema.task.n_classes
        classes = (
            np.bincount(table.labels.astype(np.int64), minlength=n_classes).astype(np.float64)
            if n_classes
            else np.zeros(0)
        )
        return cls(
            rows=len(table),
            counts=present.sum(axis=0).astype(np.float64),
            sums=values.sum(axis=0),
            squares=(values**2).sum(axis=0),
            levels=levels,
            classes=classes,
        )

    def to_json_dict(self) -> dict[str, object]:
        return {
            "format": STATS_FORMAT,
            "kind": "local",
            "rows": self.rows,
            "counts": self.counts.tolist(),
            "sums": self.sums.tolist(),
            "squares": self.squares.tolist(),
            "levels": [lv.tolist() for lv in self.levels],
            "classes": self.classes.tolist(),
        }

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> LocalStats:
        if data.get("format") != STATS_FORMAT or data.get("kind") != "local":
            raise SchemaError(f"not a local {STATS_FORMAT} document")
        try:
            return cls(
                rows=int(data["rows"]),
                counts=_floats(data["counts"]),
                sums=_floats(data["sums"]),
                squares=_floats(data["squares"]),
                levels=tuple(_floats(lv) for lv in data["levels"]),
                classes=_floats(data["classes"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SchemaError(f"malformed local statistics: {exc!r}") from exc


@dataclass(frozen=True, eq=False, slots=True)
class StudyStats:
    """The study-wide statistics every hospital encodes with (recorded in the study plan)."""

    rows: int
    means: npt.NDArray[np.float64]
    variances: npt.NDArray[np.float64]
    """Population variances (divided by the count, as `StandardScaler` does)."""
    levels: tuple[npt.NDArray[np.float64], ...]
    classes: npt.NDArray[np.float64]
    hospitals: int

    def to_json_dict(self) -> dict[str, object]:
        return {
            "format": STATS_FORMAT,
            "kind": "study",
            "rows": self.rows,
            "hospitals": self.hospitals,
            "means": self.means.tolist(),
            "variances": self.variances.tolist(),
            "levels": [lv.tolist() for lv in self.levels],
            "classes": self.classes.tolist(),
        }

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> StudyStats:
        if data.get("format") != STATS_FORMAT or data.get("kind") != "study":
            raise SchemaError(f"not a study {STATS_FORMAT} document")
        try:
            return cls(
                rows=int(data["rows"]),
                means=_floats(data["means"]),
                variances=_floats(data["variances"]),
                levels=tuple(_floats(lv) for lv in data["levels"]),
                classes=_floats(data["classes"]),
                hospitals=int(data["hospitals"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SchemaError(f"malformed study statistics: {exc!r}") from exc

    def check_fits(self, schema: StudySchema) -> None:
        """Raise `SchemaError` unless these statistics have `schema`'s shape."""
        numeric = [c for c in schema.columns if c.type == "numeric"]
        cats = [c for c in schema.columns if c.type == "categorical"]
        if len(self.means) != len(numeric) or len(self.variances) != len(numeric):
            raise SchemaError(
                f"statistics cover {len(self.means)} numeric columns, the schema has {len(numeric)}"
            )
        if [len(lv) for lv in self.levels] != [len(c.levels) for c in cats]:
            raise SchemaError("statistics and schema disagree on categorical levels")
        if len(self.classes) != schema.task.n_classes:
            raise SchemaError("statistics and schema disagree on the number of classes")


def combine(parts: Sequence[LocalStats]) -> StudyStats:
    """Add the hospitals' sums: exactly what the pooled rows would give (up to float64 rounding)."""
    if not parts:
        raise SchemaError("no statistics to combine")
    first = parts[0]
    shapes = (first.counts.shape, [lv.shape for lv in first.levels], first.classes.shape)
    for i, part in enumerate(parts):
        if (part.counts.shape, [lv.shape for lv in part.levels], part.classes.shape) != shapes:
            raise SchemaError(f"statistics {i} do not have the shape of statistics 0")
    counts = np.sum([p.counts for p in parts], axis=0)
    sums = np.sum([p.sums for p in parts], axis=0)
    squares = np.sum([p.squares for p in parts], axis=0)
    try:  # the same maths the audit recomputes a statistics round with
        means, variances = column_moments(counts, sums, squares)
    except CombineTotalsError as exc:
        raise SchemaError(str(exc)) from exc
    return StudyStats(
        rows=sum(p.rows for p in parts),
        means=means,
        variances=variances,
        levels=tuple(
            np.sum(group, axis=0) for group in zip(*(p.levels for p in parts), strict=True)
        ),
        classes=np.sum([p.classes for p in parts], axis=0),
        hospitals=len(parts),
    )


@dataclass(frozen=True, eq=False, slots=True)
class Encoded:
    """Model inputs (float32, `schema.feature_names()` order) and labels of a table."""

    features: npt.NDArray[np.float32]
    labels: npt.NDArray[np.float32]


def encode(table: SchemaTable, stats: StudyStats | None) -> Encoded:
    """Impute, standardize and one-hot `table` as the schema says, with the study's `stats`.

    `stats` may be None only when nothing needs them (no standardization, no imputation).
    """
    schema = table.schema
    prep = schema.preprocessing
    numeric = table.numeric
    needs_stats = prep.standardize or any(c.missing == "impute" for c in schema.columns)
    if stats is None:
        if needs_stats:
            raise SchemaError("this schema standardizes or imputes: it needs the study statistics")
    else:
        stats.check_fits(schema)
    if stats is not None:
        numeric = np.where(np.isnan(numeric), stats.means, numeric)
        if prep.standardize:
            scale = np.sqrt(stats.variances)
            numeric = (numeric - stats.means) / np.where(scale > 0, scale, 1.0)
    blocks: list[npt.NDArray[np.float64]] = []
    n_at = c_at = 0
    cats = [c for c in schema.columns if c.type == "categorical"]
    for column in schema.columns:
        if column.type == "numeric":
            blocks.append(numeric[:, n_at : n_at + 1])
            n_at += 1
            continue
        codes = table.codes[:, c_at].copy()
        if stats is not None and (codes == MISSING_CODE).any():
            codes[codes == MISSING_CODE] = int(np.argmax(stats.levels[c_at]))
        if prep.one_hot:
            onehot = np.zeros((len(codes), len(cats[c_at].levels)))
            known = codes >= 0
            onehot[np.flatnonzero(known), codes[known]] = 1.0
            blocks.append(onehot)
        else:
            blocks.append(np.where(codes == UNKNOWN_CODE, -1, codes)[:, None].astype(np.float64))
        c_at += 1
    features = np.hstack(blocks).astype(np.float32)
    labels = (
        table.labels.astype(np.float32) if len(table.labels) else np.zeros(len(table), np.float32)
    )
    return Encoded(features, labels)


def encode_dataset(dataset: _Rows, stats: StudyStats) -> _Rows:
    """`dataset` with its features encoded from its validated rows (`dataset.table`, kept by
    `fl.roles.study_data`) with the study's `stats`; `SchemaError` when it has no rows to
    encode (a dataset not read through the study schema)."""
    table = dataset.table
    if table is None:
        raise SchemaError(
            "these rows were not read through the study schema: they cannot be encoded with the "
            "study's statistics (read the file with fl.roles.study_data)"
        )
    encoded = encode(table, stats)
    return replace(
        dataset,
        features=torch.from_numpy(encoded.features),
        labels=torch.from_numpy(encoded.labels),
    )
