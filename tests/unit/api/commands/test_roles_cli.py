"""`consentfl aggregator`, `aggregator init`, `trainer` and `patients enroll`: option handling,
plan publishing and one-line errors (the full networked run is an integration test)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from api.cli import app
from api.wiring import load_seal_key
from chain.store import LocalStore
from consent.errors import KeystoreError
from consent.sealing import public_key_bytes
from fl.data import RecordDataset, write_record_csv
from fl.roles import StudyPlan

runner = CliRunner()


@pytest.fixture
def records_csv(tmp_path: Path) -> Path:
    path = tmp_path / "records.csv"
    features = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    records = RecordDataset(
        tuple(f"r{i}" for i in range(6)), features, (features[:, 0] > 0).float(),
        "classification", ("a", "b", "c", "d"),
    )  # fmt: skip
    write_record_csv(records, path)
    return path


def test_aggregator_init_writes_a_private_seal_key_and_publishes_the_plan(
    tmp_path: Path, records_csv: Path
) -> None:
    key = tmp_path / "seal.key"
    store = tmp_path / "store"

    result = runner.invoke(
        app,
        ["aggregator", "init", "--seal-key-out", str(key), "--data", str(records_csv),
         "--ipfs", str(store), "--epochs", "2", "--round-timeout", "5", "--json"],
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    plan = StudyPlan.from_json_bytes(LocalStore(store).get(payload["metadata_cid"]))
    assert (plan.model.n_features, plan.model.task) == (4, "classification")
    assert (plan.training.epochs, plan.round_timeout_s) == (2, 5.0)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert payload["seal_public_key"] == "0x" + public_key_bytes(load_seal_key(key)).hex()


def test_aggregator_init_writes_a_secagg_plan_with_its_threshold(
    tmp_path: Path, records_csv: Path
) -> None:
    store = tmp_path / "store"
    result = runner.invoke(
        app,
        ["aggregator", "init", "--seal-key-out", str(tmp_path / "seal.key"), "--data",
         str(records_csv), "--ipfs", str(store), "--privacy-mode", "secagg", "--threshold", "3",
         "--json"],
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    plan = StudyPlan.from_json_bytes(
        LocalStore(store).get(json.loads(result.stdout)["metadata_cid"])
    )
    assert (plan.privacy.mode.value, plan.privacy.threshold) == ("secagg", 3)


@pytest.mark.parametrize(
    ("mode", "threshold", "message"),
    [
        ("secagg", "0", "threshold >= 2"),
        ("paillier", "2", "secagg, dp, dp+secagg"),
        ("dp", "0", "needs --dp-terms"),
    ],
)
def test_aggregator_init_refuses_a_bad_privacy_mode_by_name(
    tmp_path: Path, records_csv: Path, mode: str, threshold: str, message: str
) -> None:
    result = runner.invoke(
        app,
        ["aggregator", "init", "--seal-key-out", str(tmp_path / "seal.key"), "--data",
         str(records_csv), "--ipfs", str(tmp_path / "store"), "--privacy-mode", mode,
         "--threshold", threshold],
    )  # fmt: skip

    assert result.exit_code != 0
    assert message in result.output
    assert not (tmp_path / "seal.key").exists()


def test_aggregator_init_refuses_to_overwrite_an_existing_seal_key(
    tmp_path: Path, records_csv: Path
) -> None:
    key = tmp_path / "seal.key"
    key.write_text("keep me\n")

    result = runner.invoke(
        app,
        ["aggregator", "init", "--seal-key-out", str(key), "--data", str(records_csv),
         "--ipfs", str(tmp_path / "store")],
    )  # fmt: skip

    assert result.exit_code == 1
    assert "refusing to overwrite" in result.output
    assert key.read_text() == "keep me\n"


def test_aggregator_without_its_options_fails_with_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["aggregator", "--study", "s"])

    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "error: --deployment, --study, --key, --seal-key and --rounds are required"
    ]


def test_trainer_with_a_missing_deployment_fails_with_one_line(
    tmp_path: Path, records_csv: Path
) -> None:
    key = tmp_path / "h.key"
    key.write_text("0x" + "11" * 32 + "\n")
    key.chmod(0o600)

    result = runner.invoke(
        app,
        ["trainer", "--deployment", str(tmp_path / "nope.json"), "--study", "s", "--key",
         str(key), "--data", str(records_csv), "--ipfs", str(tmp_path / "store")],
    )  # fmt: skip

    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1
    assert "cannot read deployment manifest" in result.output


def test_patients_enroll_with_a_missing_data_file_fails_with_one_line(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["patients", "enroll", "--deployment", str(tmp_path / "d.json"), "--study", "s",
         "--key", str(tmp_path / "k"), "--data", str(tmp_path / "missing.csv"),
         "--out", str(tmp_path / "o.csv"), "--keys-out", str(tmp_path / "keys")],
        env={"CONSENTFL_KEYRING_PASSWORD": "pw"},
    )  # fmt: skip

    assert result.exit_code == 1
    assert result.output.startswith("error: ")
    assert "missing.csv" in result.output
    assert "Traceback" not in result.output


def test_a_seal_key_file_that_is_not_hex_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.key"
    path.write_text("not a key")

    with pytest.raises(KeystoreError):
        load_seal_key(path)
