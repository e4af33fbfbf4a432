"""The study schema: JSON round trip, building from a sample, and refusing files that do not fit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fl.errors import SchemaError, SchemaMismatchError
from fl.schema import PROBLEMS, Column, StudySchema, TaskSpec, read_table, schema_from_sample
from fl.schema.table import UNKNOWN_CODE


def _csv(path: Path, text: str) -> Path:
    path.write_text(text.strip() + "\n")
    return path


def _schema(**overrides: object) -> StudySchema:
    body: dict[str, object] = {
        "columns": (
            Column(name="age"),
            Column(name="site", type="categorical", levels=("a", "b")),
        ),
        "task": TaskSpec(kind="multiclass", classes=("x", "y", "z")),
        "label": "dx",
    }
    body.update(overrides)
    return StudySchema(**body)  # type: ignore[arg-type]


def test_json_round_trip_keeps_every_field_and_extensions() -> None:
    schema = _schema(extensions={"future": {"x": 1}})
    again = StudySchema.from_json_dict(json.loads(json.dumps(schema.to_json_dict())))
    assert again == schema
    assert again.feature_names() == ("age", "site=a", "site=b")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "other/1"}, "not a consentfl.study-schema/1"),
        ({"task": {"kind": "multiclass", "classes": ["a", "b"]}}, "at least 3 classes"),
        ({"task": {"kind": "binary", "classes": ["a"]}}, "exactly 2 classes"),
        ({"task": {"kind": "clustering", "k": 1}}, "k >= 2"),
        ({"columns": []}, "at least one feature"),
        ({"label": "age"}, "cannot also be a feature"),
        ({"columns": [{"name": "c", "type": "categorical"}]}, "at least one level"),
        ({"columns": [{"name": "c", "type": "date"}]}, "type must be one of"),
    ],
)
def test_malformed_schemas_are_refused_with_a_named_error(
    change: dict[str, object], message: str
) -> None:
    body = _schema().to_json_dict() | change
    with pytest.raises(SchemaError, match=message):
        StudySchema.from_json_dict(body)


def test_clustering_has_no_label_and_everything_else_needs_one() -> None:
    StudySchema(columns=(Column(name="a"),), task=TaskSpec(kind="clustering", k=3))
    with pytest.raises(SchemaError, match="label column is required"):
        StudySchema(columns=(Column(name="a"),), task=TaskSpec(kind="regression"))


def test_a_matching_file_reads_in_schema_order(tmp_path: Path) -> None:
    path = _csv(tmp_path / "h.csv", "record_id,site,age,dx\nr1,b,40,z\nr2,a,51.5,x\n")
    table = read_table(path, _schema(), id_column="record_id")
    assert table.ids == ("r1", "r2")
    np.testing.assert_array_equal(table.numeric[:, 0], [40.0, 51.5])
    np.testing.assert_array_equal(table.codes[:, 0], [1, 0])
    np.testing.assert_array_equal(table.labels, [2.0, 0.0])


@pytest.mark.parametrize(
    ("text", "problem", "line", "column"),
    [
        ("record_id,age,dx\nr1,40,x", "missing column", 1, "site"),
        ("record_id,age,site,dx,extra\nr1,40,a,x,1", "unexpected column", 1, "extra"),
        ("record_id,age,site,dx\nr1,40,a,x\nr2,4o,a,y", "non-numeric value", 3, "age"),
        ("record_id,age,site,dx\nr1,old,a,x\nr2,young,a,y", "wrong type", 2, "age"),
        ("record_id,age,site,dx\nr1,40,a,x\nr2,41,c,y", "unknown level", 3, "site"),
        ("record_id,age,site,dx\nr1,40,a,x\nr2,41,b,w", "unknown class", 3, "dx"),
        ("record_id,age,site,dx\nr1,,a,x", "missing value", 2, "age"),
        ("record_id,age,site,dx\nr1,inf,a,x", "non-numeric value", 2, "age"),
        ("record_id,age,site,dx", "no rows", None, None),
        ("record_id,age,site,dx\nr1,40,a", "wrong cell count", 2, None),
    ],
)
def test_a_mismatching_file_is_refused_naming_column_row_and_problem(
    tmp_path: Path, text: str, problem: str, line: int | None, column: str | None
) -> None:
    path = _csv(tmp_path / "h.csv", text)
    with pytest.raises(SchemaMismatchError) as info:
        read_table(path, _schema(), id_column="record_id")
    error = info.value
    assert (error.problem, error.line, error.column) == (problem, line, column)
    assert problem in PROBLEMS
    assert str(path) in str(error)
    if column:
        assert repr(column) in str(error)


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(SchemaMismatchError) as info:
        read_table(path, _schema(), id_column=None)
    assert info.value.problem == "empty file"


def test_impute_and_ignore_policies_accept_what_refuse_refuses(tmp_path: Path) -> None:
    schema = _schema(
        columns=(
            Column(name="age", missing="impute"),
            Column(name="site", type="categorical", levels=("a", "b"), unknown_levels="ignore"),
        )
    )
    path = _csv(tmp_path / "h.csv", "age,site,dx\n,c,x\n3,a,y\n")
    table = read_table(path, schema, id_column=None)
    assert np.isnan(table.numeric[0, 0])
    assert table.codes[0, 0] == UNKNOWN_CODE


def test_schema_from_sample_takes_explicit_task_label_and_declared_categoricals(
    tmp_path: Path,
) -> None:
    path = _csv(tmp_path / "s.csv", "patient,age,site,dx\n0x1,40,b,2\n0x2,41,a,10\n0x3,3,a,1\n")
    schema = schema_from_sample(path, task="multiclass", label="dx", categorical=["site"])
    assert [c.name for c in schema.columns] == ["age", "site"]
    assert schema.column("site").levels == ("a", "b")
    assert schema.task.classes == ("1", "2", "10")  # numeric order, not text order
    given = schema_from_sample(
        path,
        task="multiclass",
        label="dx",
        categorical=["site"],
        classes=[str(i) for i in range(11)],
    )
    assert given.task.n_classes == 11


def test_schema_from_sample_never_guesses_a_text_column_or_a_class_outside_the_list(
    tmp_path: Path,
) -> None:
    path = _csv(tmp_path / "s.csv", "age,site,dx\n40,b,2\n41,a,1\n")
    with pytest.raises(SchemaError, match="'site' holds text"):
        schema_from_sample(path, task="binary", label="dx")
    with pytest.raises(SchemaError, match=r"labels \['2'\] are not among"):
        schema_from_sample(
            path, task="multiclass", label="dx", categorical=["site"], classes=["0", "1", "3"]
        )
    with pytest.raises(SchemaError, match="no column 'diagnosis'"):
        schema_from_sample(path, task="binary", label="diagnosis")
