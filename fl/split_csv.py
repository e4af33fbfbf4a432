"""Split any user CSV across K simulated hospitals (IID or label-skewed), for trying things out.

Rows are checked against the study schema first (`fl.schema.read_table`: a file that does not fit
is refused before anything is written), then a held-out test share is cut off and the rest dealt
to the hospitals by `fl.split.partition_rows`: stratified by class for binary and multiclass, by
quantile bin of the label for regression, at random for clustering. The cells are written back
exactly as they were, with a `record_id` column in front (`r<line>`, the row's line in the input),
unencoded: standardization and one-hot happen at the hospitals with the study's federated
statistics (`fl.preprocess`), never at split time.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from sklearn.model_selection import train_test_split

from fl.errors import SplitError
from fl.schema.spec import StudySchema
from fl.schema.table import ID_COLUMNS, read_table
from fl.split import Skew, partition_rows

__all__ = ["CsvSplit", "split_csv"]


@dataclass(frozen=True, slots=True)
class CsvSplit:
    """Where the parts went and how many rows each has."""

    hospitals: tuple[Path, ...]
    test: Path
    rows: tuple[int, ...]
    test_rows: int


def _strata(labels: npt.NDArray[np.float64], schema: StudySchema, k: int) -> npt.NDArray[np.int64]:
    kind = schema.task.kind
    if kind in ("binary", "multiclass"):
        return labels.astype(np.int64)
    if kind == "clustering":
        return np.zeros(len(labels), dtype=np.int64)
    edges = np.quantile(labels, np.linspace(0.0, 1.0, max(2, k) + 1)[1:-1])
    return np.searchsorted(edges, labels, side="right").astype(np.int64)


def _hold_out(
    n: int, test_fraction: float, seed: int, stratify: npt.NDArray[np.int64] | None
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Sorted training and test row indices of `n` rows (stratified when `stratify` is given)."""
    if not 0.0 < test_fraction < 1.0:
        raise SplitError(f"test_fraction must be in (0, 1), got {test_fraction}")
    try:
        train, test = train_test_split(
            np.arange(n), test_size=test_fraction, random_state=seed, stratify=stratify
        )
    except ValueError as exc:
        raise SplitError(f"cannot hold out a test set: {exc}") from exc
    return np.sort(train), np.sort(test)


def _write_rows(target: Path, header: list[str], rows: list[tuple[str, list[str]]]) -> None:
    with target.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["record_id", *header])
        for record_id, cells in rows:
            writer.writerow([record_id, *cells])


def split_csv(
    path: Path | str,
    schema: StudySchema,
    hospitals: int,
    out_dir: Path | str,
    *,
    non_iid: bool = False,
    seed: int = 0,
    test_fraction: float = 0.2,
    skew: Skew = "dirichlet",
    alpha: float = 0.5,
    min_rows: int = 5,
) -> CsvSplit:
    """Write `hospital-1.csv` .. `hospital-K.csv` and `test.csv` of `path`'s rows into `out_dir`."""
    path = Path(path)
    with path.open(newline="", encoding="utf-8-sig") as handle:
        header = [name.strip() for name in next(csv.reader(handle), [])]
    if any(name in header for name in ID_COLUMNS):
        raise SplitError(f"{path} already has a row-id column ({', '.join(ID_COLUMNS)})")
    table = read_table(path, schema, id_column=None)
    n = len(table)
    labels = table.labels if len(table.labels) else np.zeros(n)
    strata = _strata(labels, schema, hospitals)
    stratify = strata if schema.task.kind in ("binary", "multiclass") else None
    train, test = _hold_out(n, test_fraction, seed, stratify)
    if len(train) < hospitals * min_rows:
        raise SplitError(
            f"{len(train)} training rows cannot give {hospitals} hospitals {min_rows} each"
        )
    try:
        parts = partition_rows(
            strata[train],
            hospitals,
            non_iid=non_iid,
            seed=seed,
            skew=skew,
            alpha=alpha,
            min_rows=min_rows,
            stratify=stratify is not None,
        )
    except ValueError as exc:
        raise SplitError(f"cannot split {n} rows into {hospitals} hospitals: {exc}") from exc
    with path.open(newline="", encoding="utf-8-sig") as handle:
        raw = [[c.strip() for c in row] for row in csv.reader(handle)]
    by_line = {line: raw[line - 1] for line in table.lines}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    def write(target: Path, rows: npt.NDArray[np.intp]) -> None:
        lines = [table.lines[i] for i in rows]
        _write_rows(target, header, [(f"r{line:06d}", by_line[line]) for line in lines])

    paths = []
    for k, part in enumerate(parts, start=1):
        target = out / f"hospital-{k}.csv"
        write(target, train[part])
        paths.append(target)
    write(out / "test.csv", test)
    return CsvSplit(tuple(paths), out / "test.csv", tuple(len(p) for p in parts), len(test))
