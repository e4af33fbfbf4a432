"""`split_csv`: any user CSV, validated against the schema, dealt to K hospitals unencoded."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from fl.errors import SchemaMismatchError, SplitError
from fl.schema import TaskSpec, read_table, schema_from_sample
from fl.split_csv import split_csv


def _user_csv(path: Path, rows: int = 300) -> Path:
    rng = np.random.default_rng(0)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["age", "ward", "outcome"])
        for i in range(rows):
            writer.writerow(
                [f"{rng.normal(50, 10):.2f}", "abc"[i % 3], ["low", "mid", "high"][i % 3]]
            )
    return path


@pytest.mark.parametrize("non_iid", [False, True])
def test_rows_are_dealt_to_k_hospitals_with_their_cells_unchanged(
    tmp_path: Path, non_iid: bool
) -> None:
    source = _user_csv(tmp_path / "mine.csv")
    schema = schema_from_sample(source, task="multiclass", label="outcome", categorical=["ward"])
    result = split_csv(source, schema, 3, tmp_path / "out", non_iid=non_iid, seed=1)
    tables = [read_table(p, schema, id_column="record_id") for p in result.hospitals]
    test = read_table(result.test, schema, id_column="record_id")
    ids = [i for t in (*tables, test) for i in t.ids]
    assert len(ids) == len(set(ids)) == 300
    assert result.test_rows == 60
    original = {f"r{i + 2:06d}": row for i, row in enumerate(list(csv.reader(source.open()))[1:])}
    for path in result.hospitals:
        for row in list(csv.reader(path.open()))[1:]:
            assert row[1:] == original[row[0]]
    mixes = [np.bincount(t.labels.astype(int), minlength=3) / len(t) for t in tables]
    spread = max(float(np.abs(m - mixes[0]).max()) for m in mixes)
    assert (spread > 0.15) if non_iid else (spread < 0.05)


def test_a_file_that_does_not_fit_the_schema_is_refused_before_writing(tmp_path: Path) -> None:
    source = _user_csv(tmp_path / "mine.csv")
    schema = replace(
        schema_from_sample(source, task="multiclass", label="outcome", categorical=["ward"]),
        task=TaskSpec(kind="multiclass", classes=("low", "mid", "top")),
    )
    with pytest.raises(SchemaMismatchError, match="unknown class"):
        split_csv(source, schema, 3, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_too_many_hospitals_for_the_rows_is_a_split_error(tmp_path: Path) -> None:
    source = _user_csv(tmp_path / "mine.csv", rows=20)
    schema = schema_from_sample(source, task="multiclass", label="outcome", categorical=["ward"])
    with pytest.raises(SplitError, match="cannot give"):
        split_csv(source, schema, 10, tmp_path / "out")
