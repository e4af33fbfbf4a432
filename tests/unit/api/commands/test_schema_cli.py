"""`data schema`, `data stats`, `data split --csv` and `aggregator init` with a schema."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from api.cli import app
from chain.store import LocalStore
from fl.learners.statistics import PreprocessingStatistics
from fl.roles import StudyPlan

runner = CliRunner()

ROWS = [f"{20 + i},{'ab'[i % 2]},{('0', '1', '2')[i % 3]}" for i in range(60)]


def _sample(tmp_path: Path, rows: list[str] = ROWS) -> Path:
    path = tmp_path / "mine.csv"
    path.write_text("\n".join(["age,ward,grade", *rows]) + "\n")
    return path


def _schema(tmp_path: Path) -> Path:
    out = tmp_path / "schema.json"
    result = runner.invoke(
        app,
        [
            "data",
            "schema",
            "--data",
            str(_sample(tmp_path)),
            "--task",
            "multiclass",
            "--label",
            "grade",
            "--categorical",
            "ward",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    return out


def test_data_schema_prints_the_schema_it_built_with_the_classes_it_took(tmp_path: Path) -> None:
    body = json.loads(_schema(tmp_path).read_text())
    assert body["task"] == {"kind": "multiclass", "classes": ["0", "1", "2"]}
    assert [c["type"] for c in body["columns"]] == ["numeric", "categorical"]


def test_data_schema_names_column_line_and_problem_of_a_file_that_does_not_match(
    tmp_path: Path,
) -> None:
    schema = _schema(tmp_path)
    other = tmp_path / "other.csv"
    other.write_text("age,ward,grade\n31,a,1\n32,c,2\n")
    result = runner.invoke(app, ["data", "schema", "--schema", str(schema), "--data", str(other)])
    assert result.exit_code == 2
    assert "line 3" in result.output
    assert "'ward'" in result.output
    assert "unknown level" in result.output


def test_data_schema_refuses_to_guess_a_text_column(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "data",
            "schema",
            "--data",
            str(_sample(tmp_path)),
            "--task",
            "multiclass",
            "--label",
            "grade",
        ],
    )
    assert result.exit_code == 2
    assert "'ward' holds text" in result.output


def test_aggregator_init_publishes_the_schema_and_the_combined_statistics(
    tmp_path: Path,
) -> None:
    schema = _schema(tmp_path)
    split = runner.invoke(
        app,
        [
            "data",
            "split",
            "--csv",
            str(_sample(tmp_path)),
            "--schema",
            str(schema),
            "--hospitals",
            "2",
            "--out",
            str(tmp_path / "s"),
        ],
    )
    assert split.exit_code == 0, split.output
    stats = []
    for k in (1, 2):
        stats += ["--stats", str(tmp_path / f"st{k}.json")]
        result = runner.invoke(
            app,
            [
                "data",
                "stats",
                "--schema",
                str(schema),
                "--data",
                str(tmp_path / "s" / f"hospital-{k}.csv"),
                "--out",
                stats[-1],
            ],
        )
        assert result.exit_code == 0, result.output
    store = tmp_path / "store"
    result = runner.invoke(
        app,
        [
            "aggregator",
            "init",
            "--seal-key-out",
            str(tmp_path / "k"),
            "--schema",
            str(schema),
            *stats,
            "--ipfs",
            str(store),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    cid = json.loads(result.stdout.strip().splitlines()[-1])["metadata_cid"]
    plan = StudyPlan.from_json_bytes(LocalStore(store).get(cid))
    assert (plan.model.task, plan.model.n_outputs, plan.model.n_features) == ("multiclass", 3, 3)
    assert plan.stats is not None
    assert plan.stats.rows == 48  # the training rows of both hospitals (test held out)


def test_aggregator_init_without_statistics_makes_round_0_the_statistics_round(
    tmp_path: Path,
) -> None:
    result = runner.invoke(
        app,
        [
            "aggregator",
            "init",
            "--seal-key-out",
            str(tmp_path / "k"),
            "--schema",
            str(_schema(tmp_path)),
            "--ipfs",
            str(tmp_path / "store"),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    cid = json.loads(result.output)["metadata_cid"]
    plan = StudyPlan.from_json_bytes(LocalStore(tmp_path / "store").get(cid))
    assert plan.stats is None
    assert plan.statistics_round  # every hospital sends its sums through round 0
    assert isinstance(plan.make_learner(), PreprocessingStatistics)


def test_aggregator_init_with_task_and_label_builds_the_schema_from_the_sample(
    tmp_path: Path,
) -> None:
    sample = _sample(tmp_path)
    result = runner.invoke(
        app,
        [
            "aggregator",
            "init",
            "--seal-key-out",
            str(tmp_path / "k"),
            "--data",
            str(sample),
            "--task",
            "multiclass",
            "--label",
            "grade",
            "--categorical",
            "ward",
            "--no-standardize",
            "--ipfs",
            str(tmp_path / "store"),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout.strip().splitlines()[-1])["plan"]
    assert plan["schema"]["label"] == "grade"
    assert plan["model"]["n_outputs"] == 3
