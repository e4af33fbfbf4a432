"""Reading a hospital's CSV against the study schema: every problem refused with where and what.

`read_table` checks the header (every schema column and the label present, nothing unexpected,
no duplicates) and every cell (numbers are finite numbers, categorical cells are listed levels,
labels are listed classes, empty cells only where the schema allows imputation) and raises
`SchemaMismatchError` naming the file, line (the header is line 1), column and problem of the
first mismatch. It returns a `SchemaTable`: the raw values in schema order, not yet encoded (that
needs the study's federated statistics, see `fl.preprocess`).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from fl.errors import SchemaMismatchError
from fl.schema.spec import Column, StudySchema

__all__ = [
    "ID_COLUMNS",
    "MISSING_CODE",
    "PROBLEMS",
    "UNKNOWN_CODE",
    "SchemaTable",
    "read_table",
]

ID_COLUMNS: Final = ("patient", "record_id")
"""Row-identity columns a file may carry besides the schema's columns (see `fl.data`)."""
MISSING_CODE: Final = -1
"""Categorical code of an empty cell (allowed where the column's policy is `impute`)."""
UNKNOWN_CODE: Final = -2
"""Categorical code of a level the schema does not list (where the policy is `ignore`)."""

PROBLEMS: Final = (
    "empty file",
    "no rows",
    "missing column",
    "unexpected column",
    "duplicate column",
    "wrong cell count",
    "missing value",
    "non-numeric value",
    "wrong type",
    "unknown level",
    "unknown class",
)


@dataclass(frozen=True, eq=False, slots=True)
class SchemaTable:
    """A validated file: raw values in schema column order, one row per data line."""

    schema: StudySchema
    id_column: str | None
    ids: tuple[str, ...]
    lines: tuple[int, ...]
    """The file line of every row (for messages)."""
    numeric: npt.NDArray[np.float64]
    """(rows, numeric columns), NaN where a cell is empty."""
    codes: npt.NDArray[np.int64]
    """(rows, categorical columns): level index, `MISSING_CODE` or `UNKNOWN_CODE`."""
    labels: npt.NDArray[np.float64]
    """Class index (binary, multiclass) or value (regression); empty for clustering."""

    def __len__(self) -> int:
        return len(self.ids)

    def select(self, mask: npt.NDArray[np.bool_]) -> SchemaTable:
        """The rows where `mask` is True, in order."""
        idx = np.flatnonzero(mask)
        return SchemaTable(
            schema=self.schema,
            id_column=self.id_column,
            ids=tuple(self.ids[i] for i in idx),
            lines=tuple(self.lines[i] for i in idx),
            numeric=self.numeric[idx],
            codes=self.codes[idx],
            labels=self.labels[idx] if len(self.labels) else self.labels,
        )


def _header(path: Path, header: list[str], schema: StudySchema, id_column: str | None) -> None:
    if not any(header):
        raise SchemaMismatchError("empty file", "no header", path=path)
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise SchemaMismatchError(
                "duplicate column", "named twice", path=path, line=1, column=name
            )
        seen.add(name)
    expected = [*schema.column_names, *([schema.label] if schema.label else [])]
    for name in expected:
        if name not in seen:
            raise SchemaMismatchError(
                "missing column", "the schema requires it", path=path, line=1, column=name
            )
    allowed = {*expected, *([id_column] if id_column else [])}
    for name in header:
        if name not in allowed:
            raise SchemaMismatchError(
                "unexpected column",
                "not in the schema (list it, or remove it from the file)",
                path=path,
                line=1,
                column=name,
            )
    if id_column is not None and id_column not in seen:
        raise SchemaMismatchError(
            "missing column", "row ids required", path=path, line=1, column=id_column
        )


def _number(cell: str, column: Column, path: Path, line: int, cells: Sequence[str]) -> float:
    if not cell:
        if column.missing == "impute":
            return math.nan
        raise SchemaMismatchError(
            "missing value",
            "empty cell and the schema says refuse",
            path=path,
            line=line,
            column=column.name,
        )
    try:
        value = float(cell)
    except ValueError:
        value = math.nan
        if not any(_parses(c) for c in cells):
            raise SchemaMismatchError(
                "wrong type",
                f"the column holds text (e.g. {cell!r}) but the schema says numeric; "
                "declare it categorical",
                path=path,
                line=line,
                column=column.name,
            ) from None
    if not math.isfinite(value):
        raise SchemaMismatchError(
            "non-numeric value",
            f"{cell!r} is not a finite number",
            path=path,
            line=line,
            column=column.name,
        )
    return value


def _parses(cell: str) -> bool:
    try:
        return math.isfinite(float(cell))
    except ValueError:
        return False


def _code(cell: str, column: Column, path: Path, line: int) -> int:
    if not cell:
        if column.missing == "impute":
            return MISSING_CODE
        raise SchemaMismatchError(
            "missing value",
            "empty cell and the schema says refuse",
            path=path,
            line=line,
            column=column.name,
        )
    try:
        return column.levels.index(cell)
    except ValueError:
        if column.unknown_levels == "ignore":
            return UNKNOWN_CODE
        raise SchemaMismatchError(
            "unknown level",
            f"{cell!r} is not one of the schema's levels {list(column.levels)}",
            path=path,
            line=line,
            column=column.name,
        ) from None


def _label(cell: str, schema: StudySchema, path: Path, line: int) -> float:
    name = schema.label
    if not cell:
        raise SchemaMismatchError(
            "missing value", "every row needs a label", path=path, line=line, column=name
        )
    task = schema.task
    if task.kind == "regression":
        if not _parses(cell):
            raise SchemaMismatchError(
                "non-numeric value",
                f"{cell!r} is not a finite number",
                path=path,
                line=line,
                column=name,
            )
        return float(cell)
    if cell in task.classes:
        return float(task.classes.index(cell))
    raise SchemaMismatchError(
        "unknown class",
        f"{cell!r} is not one of the study's classes {list(task.classes)}",
        path=path,
        line=line,
        column=name,
    )


def read_table(path: Path | str, schema: StudySchema, *, id_column: str | None) -> SchemaTable:
    """Read and check `path` against `schema`; `id_column` is `patient`, `record_id` or None.

    Raises `SchemaMismatchError` at the first problem (see `PROBLEMS`); nothing is returned
    partially.
    """
    path = Path(path)
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise SchemaMismatchError("empty file", f"cannot open: {exc.strerror}", path=path) from exc
    with handle:
        reader = csv.reader(handle)
        header = [name.strip() for name in next(reader, [])]
        _header(path, header, schema, id_column)
        rows: list[list[str]] = []
        lines: list[int] = []
        for row in reader:
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise SchemaMismatchError(
                    "wrong cell count",
                    f"{len(row)} cells, the header has {len(header)}",
                    path=path,
                    line=reader.line_num,
                )
            rows.append([cell.strip() for cell in row])
            lines.append(reader.line_num)
    if not rows:
        raise SchemaMismatchError("no rows", "a header but no data rows", path=path)
    at = {name: i for i, name in enumerate(header)}
    numeric_cols = [c for c in schema.columns if c.type == "numeric"]
    cat_cols = [c for c in schema.columns if c.type == "categorical"]
    numeric = np.empty((len(rows), len(numeric_cols)), dtype=np.float64)
    codes = np.empty((len(rows), len(cat_cols)), dtype=np.int64)
    for j, column in enumerate(numeric_cols):
        cells = [row[at[column.name]] for row in rows]
        for i, (cell, line) in enumerate(zip(cells, lines, strict=True)):
            numeric[i, j] = _number(cell, column, path, line, cells)
    for j, column in enumerate(cat_cols):
        for i, (row, line) in enumerate(zip(rows, lines, strict=True)):
            codes[i, j] = _code(row[at[column.name]], column, path, line)
    labels = np.empty(0, dtype=np.float64)
    if schema.label is not None:
        labels = np.array(
            [
                _label(row[at[schema.label]], schema, path, line)
                for row, line in zip(rows, lines, strict=True)
            ],
            dtype=np.float64,
        )
    ids = (
        tuple(row[at[id_column]] for row in rows)
        if id_column
        else tuple(f"row-{line}" for line in lines)
    )
    return SchemaTable(schema, id_column, ids, tuple(lines), numeric, codes, labels)
