"""Building a study schema from a sample file plus explicit options, never by silent guessing.

The caller says which column is the label and what the task is. Every other column (except the
row-id columns `patient` / `record_id`) is a feature: numeric when every cell of the sample is a
finite number, categorical only when the caller names it (`categorical=`), with the sample's
levels unless given. A column with text that is not declared categorical is refused, naming it.
For binary and multiclass tasks the classes are the caller's (`classes=`) or, when not given, the
sample's distinct labels in sorted order (numerically if they are all numbers); the caller shows
them back to the user (the CLI prints the schema), so nothing is decided unseen.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from fl.errors import SchemaError, SchemaMismatchError
from fl.schema.spec import (
    Column,
    MissingPolicy,
    Preprocessing,
    StudySchema,
    TaskKind,
    TaskSpec,
    UnknownLevelPolicy,
)
from fl.schema.table import ID_COLUMNS

__all__ = ["schema_from_sample"]


def _is_number(cell: str) -> bool:
    try:
        return math.isfinite(float(cell))
    except ValueError:
        return False


def _sorted_values(values: set[str]) -> tuple[str, ...]:
    if all(_is_number(v) for v in values):
        return tuple(sorted(values, key=float))
    return tuple(sorted(values))


def _read(path: Path) -> tuple[list[str], list[list[str]]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = [name.strip() for name in next(reader, [])]
            rows = [[c.strip() for c in row] for row in reader if any(c.strip() for c in row)]
    except OSError as exc:
        raise SchemaMismatchError("empty file", f"cannot open: {exc.strerror}", path=path) from exc
    if not any(header):
        raise SchemaMismatchError("empty file", "no header", path=path)
    if not rows:
        raise SchemaMismatchError("no rows", "a sample needs data rows", path=path)
    return header, rows


def _column(
    path: Path,
    name: str,
    cells: list[str],
    declared: bool,
    levels: Sequence[str] | None,
    missing: MissingPolicy,
    unknown_levels: UnknownLevelPolicy,
) -> Column:
    """A declared-categorical column (its levels given or found), else a numeric one."""
    if declared:
        found = levels or _sorted_values({c for c in cells if c})
        return Column(
            name=name,
            type="categorical",
            levels=tuple(found),
            missing=missing,
            unknown_levels=unknown_levels,
        )
    text = next((c for c in cells if c and not _is_number(c)), None)
    if text is not None:
        raise SchemaError(
            f"{path}: column {name!r} holds text (e.g. {text!r}); declare it categorical "
            "(--categorical) or fix the file"
        )
    return Column(name=name, type="numeric", missing=missing)


def _task_classes(
    path: Path, task: TaskKind, seen: set[str], classes: Sequence[str] | None
) -> tuple[str, ...]:
    """The classes of a classification task (given, or the label values seen), checked."""
    if task not in ("binary", "multiclass"):
        if classes:
            raise SchemaError(f"--classes applies to binary and multiclass tasks, not {task}")
        return ()
    task_classes = tuple(classes) if classes else _sorted_values(seen)
    extra = sorted(seen - set(task_classes))
    if extra:
        raise SchemaError(f"{path}: labels {extra} are not among the classes {list(task_classes)}")
    return task_classes


def schema_from_sample(
    path: Path | str,
    *,
    task: TaskKind,
    label: str | None,
    classes: Sequence[str] | None = None,
    k: int | None = None,
    categorical: Sequence[str] = (),
    levels: Mapping[str, Sequence[str]] | None = None,
    missing: MissingPolicy = "refuse",
    unknown_levels: UnknownLevelPolicy = "refuse",
    preprocessing: Preprocessing | None = None,
) -> StudySchema:
    """The schema of `path`'s columns with the given task, label and declarations.

    Raises `SchemaError` for options that do not fit the file (unknown label or categorical
    column, a text column not declared categorical, labels outside `classes`).
    """
    path = Path(path)
    header, rows = _read(path)
    given_levels = dict(levels or {})
    for name in (*categorical, *given_levels, *([label] if label else [])):
        if name not in header:
            raise SchemaError(f"{path}: no column {name!r} (columns: {', '.join(header)})")
    at = {name: i for i, name in enumerate(header)}
    columns: list[Column] = []
    for name in header:
        if name in ID_COLUMNS or name == label:
            continue
        cells = [row[at[name]] for row in rows if len(row) == len(header)]
        declared = name in categorical or name in given_levels
        levels_of = given_levels.get(name) if declared else None
        columns.append(_column(path, name, cells, declared, levels_of, missing, unknown_levels))
    labels = {row[at[label]] for row in rows if row[at[label]]} if label else set()
    task_classes = _task_classes(path, task, labels, classes)
    return StudySchema(
        columns=tuple(columns),
        task=TaskSpec(kind=task, classes=task_classes, k=k),
        label=label,
        preprocessing=preprocessing or Preprocessing(),
    )
