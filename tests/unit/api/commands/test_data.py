from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from api.commands.data import data_app
from fl.data import load_record_csv

runner = CliRunner()


def test_split_writes_hospital_csvs_and_prints_a_summary(tmp_path: Path) -> None:
    out = tmp_path / "split"

    result = runner.invoke(
        data_app, ["split", "--dataset", "breast-cancer", "--hospitals", "3", "--out", str(out)]
    )

    assert result.exit_code == 0, result.output
    assert "hospital-3" in result.output
    assert "IID" in result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "hospital-1.csv", "hospital-2.csv", "hospital-3.csv", "split.json", "test.csv"
    ]  # fmt: skip
    assert load_record_csv(out / "hospital-1.csv").task == "classification"


def test_split_json_output_describes_a_skewed_split(tmp_path: Path) -> None:
    result = runner.invoke(
        data_app,
        ["split", "--dataset", "diabetes", "--hospitals", "2", "--non-iid", "--skew", "shards",
         "--out", str(tmp_path), "--json"],
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["task"] == "regression"
    assert summary["non_iid"] is True
    assert summary["skew"] == "shards"
    assert len(summary["hospitals"]) == 2
    assert all(Path(p).exists() for p in summary["files"])


def test_split_into_more_hospitals_than_rows_allow_exits_with_an_error(tmp_path: Path) -> None:
    result = runner.invoke(
        data_app,
        ["split", "--dataset", "breast-cancer", "--hospitals", "200", "--out", str(tmp_path)],
    )

    assert result.exit_code == 2
    assert "200 hospitals" in result.output
    assert not list(tmp_path.iterdir())


def test_split_rejects_unknown_dataset(tmp_path: Path) -> None:
    result = runner.invoke(
        data_app, ["split", "--dataset", "mnist", "--hospitals", "2", "--out", str(tmp_path)]
    )

    assert result.exit_code != 0
    assert not list(tmp_path.iterdir())
