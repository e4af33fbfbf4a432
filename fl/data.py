"""Tabular datasets held by a hospital, and their CSV form.

Two row identities exist. A *hospital dataset* has a `patient` column of Ethereum addresses: the
trainer filters it by consent and commits to the distinct patients it used. A *record dataset*
has a `record_id` column instead: it is what `consentfl data split` writes, before enrolment gives
every record a patient. Both have numeric feature columns (every column except the id and
`label`, in file order) and a `label` column: 0/1 for (binary) classification, the class index
0..C-1 for multiclass, a number for regression. (Files with categorical columns, other label
names or class names are read through the study schema, `fl.schema`.)

Datasets are immutable by contract: tensors are never modified in place here, and callers must
not modify them either. Filtering (`select`) returns a new dataset.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, get_args

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor

from consent.ids import Address, InvalidIdentifierError, parse_address
from fl.errors import (
    DataError,
    EmptyDataError,
    MalformedAddressError,
    MissingColumnError,
    NonNumericValueError,
)
from fl.schema.table import SchemaTable

__all__ = [
    "LABEL_COLUMN",
    "PATIENT_COLUMN",
    "RECORD_COLUMN",
    "Examples",
    "HospitalDataset",
    "RecordDataset",
    "Task",
    "attach_patients",
    "load_hospital_csv",
    "load_record_csv",
    "write_hospital_csv",
    "write_record_csv",
]

Task = Literal["classification", "regression", "multiclass", "clustering"]
"""A clustering file's `label` column, if any, is a reference labelling used only to score (ARI)."""
TASKS: tuple[Task, ...] = get_args(Task)

PATIENT_COLUMN = "patient"
RECORD_COLUMN = "record_id"
LABEL_COLUMN = "label"


class Examples(Protocol):
    """What training and evaluation need from a dataset: features, labels and the task."""

    @property
    def features(self) -> Tensor: ...

    @property
    def labels(self) -> Tensor: ...

    @property
    def task(self) -> Task: ...

    def __len__(self) -> int: ...


def _check_examples(
    n_ids: int, features: Tensor, labels: Tensor, task: str, feature_names: tuple[str, ...]
) -> None:
    if task not in TASKS:
        raise DataError(f"task must be one of {TASKS}, got {task!r}")
    if features.dtype != torch.float32 or features.dim() != 2:
        raise DataError(
            f"features must be a 2-D float32 tensor, got {features.dtype} {features.dim()}-D"
        )
    if labels.dtype != torch.float32 or labels.dim() != 1:
        raise DataError(f"labels must be a 1-D float32 tensor, got {labels.dtype} {labels.dim()}-D")
    if not n_ids == features.shape[0] == labels.shape[0]:
        raise DataError(
            f"row counts differ: {n_ids} ids, {features.shape[0]} feature rows, "
            f"{labels.shape[0]} labels"
        )
    if features.shape[1] != len(feature_names):
        raise DataError(
            f"{features.shape[1]} feature columns but {len(feature_names)} feature names"
        )
    if task == "classification" and not bool(((labels == 0) | (labels == 1)).all()):
        raise DataError("classification labels must be 0 or 1", column=LABEL_COLUMN)
    if task == "multiclass" and not bool(((labels >= 0) & (labels == labels.round())).all()):
        raise DataError("multiclass labels must be class indices 0, 1, 2, ...", column=LABEL_COLUMN)


def _check_table(table: SchemaTable | None, n: int) -> None:
    if table is not None and len(table) != n:
        raise DataError(f"the validated table has {len(table)} rows, the dataset {n}")


def _mask_indices(mask: npt.NDArray[np.bool_], n: int) -> npt.NDArray[np.intp]:
    if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_ or mask.shape != (n,):
        raise DataError(f"a row mask must be a boolean numpy array of shape ({n},)")
    return np.flatnonzero(mask)


@dataclass(frozen=True, eq=False, slots=True)
class HospitalDataset:
    """A hospital's rows: one patient address per row (a patient may own several rows)."""

    patients: tuple[Address, ...]
    features: Tensor
    labels: Tensor
    task: Task
    feature_names: tuple[str, ...]
    table: SchemaTable | None = None
    """The validated rows behind `features` when the file was read through a study schema
    (`fl.roles.study_data`): what the study's statistics round sums and what its statistics
    encode (`fl.preprocess.encode_dataset`). Kept row-aligned by `select`."""

    def __post_init__(self) -> None:
        _check_examples(
            len(self.patients), self.features, self.labels, self.task, self.feature_names
        )
        _check_table(self.table, len(self.patients))

    def __len__(self) -> int:
        return len(self.patients)

    def distinct_patients(self) -> frozenset[Address]:
        """The set of patients owning at least one row."""
        return frozenset(self.patients)

    def patient_mask(self, allowed: AbstractSet[Address]) -> npt.NDArray[np.bool_]:
        """A row mask that is True where the row's patient is in `allowed`."""
        return np.fromiter((p in allowed for p in self.patients), dtype=np.bool_, count=len(self))

    def select(self, mask: npt.NDArray[np.bool_]) -> HospitalDataset:
        """The rows where `mask` is True, in order, with `patients` kept aligned."""
        idx = _mask_indices(mask, len(self))
        rows = torch.from_numpy(idx)
        return HospitalDataset(
            patients=tuple(self.patients[i] for i in idx),
            features=self.features[rows],
            labels=self.labels[rows],
            task=self.task,
            feature_names=self.feature_names,
            table=None if self.table is None else self.table.select(mask),
        )


@dataclass(frozen=True, eq=False, slots=True)
class RecordDataset:
    """Rows keyed by a unique `record_id`, not yet tied to patients (the output of a split)."""

    record_ids: tuple[str, ...]
    features: Tensor
    labels: Tensor
    task: Task
    feature_names: tuple[str, ...]
    table: SchemaTable | None = None
    """The validated rows behind `features` (see `HospitalDataset.table`)."""

    def __post_init__(self) -> None:
        _check_examples(
            len(self.record_ids), self.features, self.labels, self.task, self.feature_names
        )
        _check_table(self.table, len(self.record_ids))
        if len(set(self.record_ids)) != len(self.record_ids):
            raise DataError("record ids must be unique", column=RECORD_COLUMN)

    def __len__(self) -> int:
        return len(self.record_ids)

    def select(self, mask: npt.NDArray[np.bool_]) -> RecordDataset:
        """The rows where `mask` is True, in order."""
        idx = _mask_indices(mask, len(self))
        rows = torch.from_numpy(idx)
        return RecordDataset(
            record_ids=tuple(self.record_ids[i] for i in idx),
            features=self.features[rows],
            labels=self.labels[rows],
            task=self.task,
            feature_names=self.feature_names,
            table=None if self.table is None else self.table.select(mask),
        )

    @staticmethod
    def concat(parts: Sequence[RecordDataset]) -> RecordDataset:
        """All rows of `parts`, in order; they must share task and feature names."""
        if not parts:
            raise DataError("cannot concatenate zero datasets")
        first = parts[0]
        if any(p.task != first.task or p.feature_names != first.feature_names for p in parts):
            raise DataError("datasets to concatenate differ in task or feature names")
        return RecordDataset(
            record_ids=tuple(r for p in parts for r in p.record_ids),
            features=torch.cat([p.features for p in parts]),
            labels=torch.cat([p.labels for p in parts]),
            task=first.task,
            feature_names=first.feature_names,
        )


def attach_patients(records: RecordDataset, patients: dict[str, Address]) -> HospitalDataset:
    """The hospital dataset whose row `i` belongs to `patients[records.record_ids[i]]`."""
    missing = [r for r in records.record_ids if r not in patients]
    if missing:
        raise DataError(f"{len(missing)} record(s) have no patient, first {missing[0]!r}")
    return HospitalDataset(
        patients=tuple(patients[r] for r in records.record_ids),
        features=records.features,
        labels=records.labels,
        task=records.task,
        feature_names=records.feature_names,
        table=records.table,
    )


@dataclass(frozen=True, slots=True)
class _Table:
    ids: list[str]
    id_lines: list[int]
    feature_names: tuple[str, ...]
    features: npt.NDArray[np.float32]
    labels: npt.NDArray[np.float32]


def _parse_numbers(
    rows: list[list[str]], lines: list[int], columns: tuple[str, ...], path: Path
) -> npt.NDArray[np.float64]:
    """Cells to float64; fast path through numpy, cell-by-cell only to name a bad cell."""
    try:
        values = np.array(rows, dtype=np.float64).reshape(len(rows), len(columns))
    except ValueError:
        values = None
    if values is not None and bool(np.isfinite(values).all()):
        return values
    for row, line in zip(rows, lines, strict=True):
        for cell, column in zip(row, columns, strict=True):
            try:
                number = float(cell)
            except ValueError as exc:
                raise NonNumericValueError(
                    f"not a number: {cell!r}", path=path, line=line, column=column
                ) from exc
            if not math.isfinite(number):
                raise NonNumericValueError(
                    f"not a finite number: {cell!r}", path=path, line=line, column=column
                )
    raise AssertionError(
        "unreachable: numpy rejected cells that float() accepts"
    )  # pragma: no cover


def _read_table(path: Path, id_column: str) -> _Table:
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise DataError(f"cannot open: {exc.strerror}", path=path) from exc
    with handle:
        reader = csv.reader(handle)
        header = [name.strip() for name in next(reader, [])]
        if not any(header):
            raise EmptyDataError("the file is empty (no header)", path=path)
        if len(set(header)) != len(header):
            raise DataError("duplicate column names in the header", path=path, line=1)
        for required in (id_column, LABEL_COLUMN):
            if required not in header:
                raise MissingColumnError("required column is missing", path=path, column=required)
        id_at, label_at = header.index(id_column), header.index(LABEL_COLUMN)
        feature_at = [i for i in range(len(header)) if i not in (id_at, label_at)]
        if not feature_at:
            raise DataError("no feature columns", path=path, line=1)
        ids: list[str] = []
        lines: list[int] = []
        numbers: list[list[str]] = []
        for row in reader:
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise DataError(
                    f"{len(row)} cells, the header has {len(header)}",
                    path=path,
                    line=reader.line_num,
                )
            ids.append(row[id_at].strip())
            lines.append(reader.line_num)
            numbers.append([row[i].strip() for i in (*feature_at, label_at)])
    if not ids:
        raise EmptyDataError("the file has a header but no data rows", path=path)
    names = tuple(header[i] for i in feature_at)
    values = _parse_numbers(numbers, lines, (*names, LABEL_COLUMN), path)
    return _Table(
        ids=ids,
        id_lines=lines,
        feature_names=names,
        features=values[:, :-1].astype(np.float32),
        labels=values[:, -1].astype(np.float32),
    )


def _task_of(labels: npt.NDArray[np.float32], task: Task | None, path: Path) -> Task:
    binary = bool(np.isin(labels, (0.0, 1.0)).all())
    if task is None:
        return "classification" if binary else "regression"
    if task not in TASKS:
        raise DataError(f"task must be one of {TASKS}, got {task!r}")
    if task == "classification" and not binary:
        raise DataError("classification labels must be 0 or 1", path=path, column=LABEL_COLUMN)
    if task == "multiclass" and not bool(((labels >= 0) & (labels == np.round(labels))).all()):
        raise DataError(
            "multiclass labels must be class indices 0, 1, 2, ...", path=path, column=LABEL_COLUMN
        )
    return task


def load_hospital_csv(path: Path | str, *, task: Task | None = None) -> HospitalDataset:
    """Read a hospital CSV: a `patient` address column, numeric features, a `label` column.

    `task` defaults to "classification" when every label is 0 or 1, else "regression"; a
    multiclass file needs `task="multiclass"` (or, better, the study schema: `fl.schema`).
    Raises a `DataError` subclass naming the file, line and column of the first problem.
    """
    path = Path(path)
    table = _read_table(path, PATIENT_COLUMN)
    patients: list[Address] = []
    for value, line in zip(table.ids, table.id_lines, strict=True):
        try:
            patients.append(parse_address(value))
        except InvalidIdentifierError as exc:
            raise MalformedAddressError(
                f"not an Ethereum address: {value!r}", path=path, line=line, column=PATIENT_COLUMN
            ) from exc
    return HospitalDataset(
        patients=tuple(patients),
        features=torch.from_numpy(table.features),
        labels=torch.from_numpy(table.labels),
        task=_task_of(table.labels, task, path),
        feature_names=table.feature_names,
    )


def load_record_csv(path: Path | str, *, task: Task | None = None) -> RecordDataset:
    """Read a split CSV: a unique, non-empty `record_id` column, numeric features, a `label`."""
    path = Path(path)
    table = _read_table(path, RECORD_COLUMN)
    seen: set[str] = set()
    for value, line in zip(table.ids, table.id_lines, strict=True):
        if not value:
            raise DataError("empty record id", path=path, line=line, column=RECORD_COLUMN)
        if value in seen:
            raise DataError(
                f"duplicate record id {value!r}", path=path, line=line, column=RECORD_COLUMN
            )
        seen.add(value)
    return RecordDataset(
        record_ids=tuple(table.ids),
        features=torch.from_numpy(table.features),
        labels=torch.from_numpy(table.labels),
        task=_task_of(table.labels, task, path),
        feature_names=table.feature_names,
    )


def _format(value: float) -> str:
    # 9 significant digits round-trip any float32 exactly.
    return f"{value:.9g}"


def _write(
    path: Path, id_column: str, ids: Iterable[str], data: HospitalDataset | RecordDataset
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([id_column, *data.feature_names, LABEL_COLUMN])
        rows = data.features.tolist()
        for row_id, row, label in zip(ids, rows, data.labels.tolist(), strict=True):
            writer.writerow([row_id, *map(_format, row), _format(label)])


def write_record_csv(records: RecordDataset, path: Path | str) -> None:
    """Write `records` as CSV (`record_id`, features, `label`); `load_record_csv` reads it back."""
    _write(Path(path), RECORD_COLUMN, records.record_ids, records)


def write_hospital_csv(dataset: HospitalDataset, path: Path | str) -> None:
    """Write `dataset` as CSV (`patient`, features, `label`); `load_hospital_csv` reads it back."""
    _write(Path(path), PATIENT_COLUMN, dataset.patients, dataset)
