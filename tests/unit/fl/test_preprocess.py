"""Federated preprocessing statistics: exact across hospitals, the same encoding everywhere."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.preprocessing import StandardScaler

from fl.errors import SchemaError, SchemaMismatchError
from fl.preprocess import LocalStats, StudyStats, combine, encode
from fl.schema import Column, StudySchema, TaskSpec, read_table


def _schema(unknown: str = "refuse", missing: str = "refuse") -> StudySchema:
    return StudySchema(
        columns=(
            Column(name="age", missing=missing),  # type: ignore[arg-type]
            Column(name="bmi"),
            Column(
                name="site",
                type="categorical",
                levels=("north", "south", "west"),
                unknown_levels=unknown,
            ),  # type: ignore[arg-type]
        ),
        task=TaskSpec(kind="binary", classes=("no", "yes")),
        label="dx",
    )


HOSPITALS = {
    # the three hospitals see different subsets of the levels
    "h1": "age,bmi,site,dx\n40,22.5,north,no\n61,30.1,north,yes\n55,27.0,south,yes\n",
    "h2": "age,bmi,site,dx\n33,19.0,south,no\n47,24.2,south,no\n",
    "h3": "age,bmi,site,dx\n70,31.5,west,yes\n29,21.0,north,no\n58,26.6,west,yes\n",
}


def _tables(tmp_path: Path, schema: StudySchema, files: dict[str, str] = HOSPITALS) -> list:
    tables = []
    for name, text in files.items():
        path = tmp_path / f"{name}.csv"
        path.write_text(text)
        tables.append(read_table(path, schema, id_column=None))
    return tables


def test_combined_statistics_equal_the_pooled_rows(tmp_path: Path) -> None:
    tables = _tables(tmp_path, _schema())
    stats = combine([LocalStats.of(t) for t in tables])
    pooled = np.vstack([t.numeric for t in tables])
    np.testing.assert_allclose(stats.means, pooled.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(stats.variances, pooled.var(axis=0), rtol=1e-12)
    np.testing.assert_array_equal(stats.levels[0], [3, 3, 2])
    np.testing.assert_array_equal(stats.classes, [4, 4])
    assert (stats.rows, stats.hospitals) == (8, 3)


def test_three_hospitals_with_different_levels_encode_to_the_same_columns(tmp_path: Path) -> None:
    tables = _tables(tmp_path, _schema())
    stats = combine([LocalStats.of(t) for t in tables])
    encoded = [encode(t, stats) for t in tables]
    assert {e.features.shape[1] for e in encoded} == {5}
    h2 = encoded[1].features
    np.testing.assert_array_equal(h2[:, 2:], [[0, 1, 0], [0, 1, 0]])  # only "south" seen there
    pooled = np.vstack([e.features[:, :2] for e in encoded])
    central = StandardScaler().fit_transform(np.vstack([t.numeric for t in tables]))
    np.testing.assert_allclose(pooled, central, atol=1e-6)


def test_a_level_outside_the_schema_is_refused_or_zero_encoded_as_the_schema_says(
    tmp_path: Path,
) -> None:
    files = dict(HOSPITALS, h3="age,bmi,site,dx\n70,31.5,east,yes\n")
    with pytest.raises(SchemaMismatchError) as info:
        _tables(tmp_path, _schema(), files)
    assert (info.value.problem, info.value.column, info.value.line) == ("unknown level", "site", 2)
    tables = _tables(tmp_path, _schema(unknown="ignore"), files)
    stats = combine([LocalStats.of(t) for t in tables])
    np.testing.assert_array_equal(encode(tables[2], stats).features[0, 2:], [0, 0, 0])


def test_missing_cells_are_imputed_with_the_federated_mean(tmp_path: Path) -> None:
    files = dict(HOSPITALS, h2="age,bmi,site,dx\n,19.0,south,no\n47,24.2,south,no\n")
    tables = _tables(tmp_path, _schema(missing="impute"), files)
    stats = combine([LocalStats.of(t) for t in tables])
    present = np.concatenate([t.numeric[:, 0] for t in tables])
    assert stats.means[0] == pytest.approx(np.nanmean(present))
    assert encode(tables[1], stats).features[0, 0] == pytest.approx(0.0, abs=1e-6)


def test_statistics_round_trip_as_json_and_refuse_a_schema_of_another_shape(
    tmp_path: Path,
) -> None:
    tables = _tables(tmp_path, _schema())
    local = LocalStats.of(tables[0])
    again = LocalStats.from_json_dict(json.loads(json.dumps(local.to_json_dict())))
    np.testing.assert_array_equal(again.sums, local.sums)
    stats = combine([LocalStats.of(t) for t in tables])
    stats2 = StudyStats.from_json_dict(json.loads(json.dumps(stats.to_json_dict())))
    np.testing.assert_array_equal(stats2.variances, stats.variances)
    narrower = StudySchema(
        columns=(Column(name="age"),), task=TaskSpec(kind="regression"), label="dx"
    )
    with pytest.raises(SchemaError, match="numeric columns"):
        stats.check_fits(narrower)


def test_a_standardizing_schema_refuses_to_encode_with_local_data_alone(tmp_path: Path) -> None:
    tables = _tables(tmp_path, _schema())
    with pytest.raises(SchemaError, match="needs the study statistics"):
        encode(tables[0], None)


def test_statistics_of_another_shape_are_refused_when_combined(tmp_path: Path) -> None:
    tables = _tables(tmp_path, _schema())
    other = LocalStats(1, np.ones(1), np.ones(1), np.ones(1), (), np.ones(2))
    with pytest.raises(SchemaError, match="statistics 1"):
        combine([LocalStats.of(tables[0]), other])
