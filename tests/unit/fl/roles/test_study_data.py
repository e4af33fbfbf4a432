"""The study plan carries the schema and the federated statistics; files are read through them."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fl.errors import SchemaMismatchError
from fl.models import ModelSpec
from fl.preprocess import LocalStats, combine
from fl.roles import StudyPlan, Trainer
from fl.roles.errors import MetadataError
from fl.roles.study_data import load_hospital_data, load_record_data
from fl.schema import Column, StudySchema, TaskSpec, read_table
from tests.unit.fl.roles.conftest import HOSPITALS, World, patient_of
from tests.unit.fl.roles.fakes import FakeConsent, FakeLedger

SCHEMA = StudySchema(
    columns=(Column(name="age"), Column(name="ward", type="categorical", levels=("a", "b"))),
    task=TaskSpec(kind="multiclass", classes=("low", "mid", "high")),
    label="risk",
)


def _file(path: Path, id_column: str, rows: list[str]) -> Path:
    path.write_text("\n".join([f"{id_column},age,ward,risk", *rows]) + "\n")
    return path


def _plan(tmp_path: Path) -> StudyPlan:
    sample = _file(tmp_path / "s.csv", "record_id", ["r1,40,a,low", "r2,60,b,high", "r3,50,a,mid"])
    stats = combine([LocalStats.of(read_table(sample, SCHEMA, id_column="record_id"))])
    return StudyPlan(
        model=ModelSpec.linear(3, "multiclass", n_outputs=3), schema=SCHEMA, stats=stats
    )


def test_a_plan_with_schema_and_statistics_round_trips(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    again = StudyPlan.from_json_bytes(plan.to_json_bytes())
    assert again.schema == SCHEMA
    assert again.stats is not None
    assert again.stats.means.tolist() == [50.0]
    assert again.to_json_bytes() == plan.to_json_bytes()


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (ModelSpec.linear(3, "classification"), "task is multiclass"),
        (ModelSpec.linear(3, "multiclass", n_outputs=4), "3 classes"),
        (ModelSpec.linear(5, "multiclass", n_outputs=3), "encodes 3 features"),
    ],
)
def test_a_plan_whose_model_does_not_fit_its_schema_is_refused(
    model: ModelSpec, message: str
) -> None:
    with pytest.raises(MetadataError, match=message):
        StudyPlan(model=model, schema=SCHEMA)


def test_files_are_encoded_with_the_study_statistics_not_their_own(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    a, b = patient_of(0, 0), patient_of(0, 1)
    data = load_hospital_data(
        _file(tmp_path / "h.csv", "patient", [f"{a},50,b,mid", f"{b},60,a,high"]), plan
    )
    assert data.task == "multiclass"
    assert data.feature_names == ("age", "ward=a", "ward=b")
    assert data.features[0].tolist() == pytest.approx([0.0, 0.0, 1.0])  # 50 is the study mean
    assert data.labels.tolist() == [1.0, 2.0]
    test = load_record_data(_file(tmp_path / "t.csv", "record_id", ["x,40,a,low"]), plan)
    assert test.record_ids == ("x",)


def test_reloading_a_mismatching_file_is_refused_and_the_rows_stay(
    tmp_path: Path, world: World
) -> None:
    plan = _plan(tmp_path)
    good = load_hospital_data(
        _file(tmp_path / "h.csv", "patient", [f"{patient_of(0, 0)},50,b,mid"]), plan
    )
    trainer = Trainer(
        study=world.study,
        ledger=FakeLedger(world.chain, HOSPITALS[0]),
        store=world.store,
        consent=FakeConsent(world.chain),
        dataset=good,
        state_dir=tmp_path / "state",
        plan=plan,
    )
    bad = _file(tmp_path / "bad.csv", "patient", [f"{patient_of(0, 1)},55,c,mid"])
    with pytest.raises(SchemaMismatchError) as info:
        trainer.reload_data(bad)
    assert (info.value.problem, info.value.column, info.value.line) == ("unknown level", "ward", 2)
    assert trainer.dataset is good
    newer = _file(tmp_path / "new.csv", "patient", [f"{patient_of(0, 1)},55,a,low"] * 2)
    assert len(trainer.reload_data(newer)) == 2
    assert torch.equal(trainer.dataset.labels, torch.tensor([0.0, 0.0]))
