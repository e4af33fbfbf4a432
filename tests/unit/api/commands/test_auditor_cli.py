"""`consentfl audit keygen` and `aggregator init --auditor-key`: the auditor's key reaches the
study plan, so every update gets sealed to it (the networked audit run is an integration test)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import torch
from typer.testing import CliRunner

from api.cli import app
from api.wiring import load_seal_key
from chain.store import LocalStore
from consent.sealing import public_key_bytes
from fl.data import RecordDataset, write_record_csv
from fl.roles import StudyPlan

runner = CliRunner()


def _records(path: Path) -> Path:
    features = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    records = RecordDataset(
        tuple(f"r{i}" for i in range(6)), features, (features[:, 0] > 0).float(),
        "classification", ("a", "b", "c", "d"),
    )  # fmt: skip
    write_record_csv(records, path)
    return path


def test_keygen_key_listed_at_init_is_in_the_published_plan(tmp_path: Path) -> None:
    auditor = tmp_path / "auditor.key"
    made = runner.invoke(app, ["audit", "keygen", "--out", str(auditor), "--json"])
    assert made.exit_code == 0, made.output
    public = json.loads(made.stdout)["auditor_public_key"]
    assert public == "0x" + public_key_bytes(load_seal_key(auditor)).hex()
    assert stat.S_IMODE(auditor.stat().st_mode) == 0o600

    init = runner.invoke(
        app,
        ["aggregator", "init", "--seal-key-out", str(tmp_path / "seal.key"),
         "--data", str(_records(tmp_path / "r.csv")), "--ipfs", str(tmp_path / "store"),
         "--auditor-key", public, "--json"],
    )  # fmt: skip

    assert init.exit_code == 0, init.output
    cid = json.loads(init.stdout)["metadata_cid"]
    plan = StudyPlan.from_json_bytes(LocalStore(tmp_path / "store").get(cid))
    assert plan.auditor_seal_keys == (bytes.fromhex(public[2:]),)
    assert plan.make_codec().auditor_keys == plan.auditor_seal_keys  # type: ignore[attr-defined]


def test_init_refuses_a_malformed_auditor_key_with_one_line(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["aggregator", "init", "--seal-key-out", str(tmp_path / "seal.key"),
         "--data", str(_records(tmp_path / "r.csv")), "--ipfs", str(tmp_path / "store"),
         "--auditor-key", "0x1234"],
    )  # fmt: skip

    assert result.exit_code == 1
    assert "error:" in result.output
    assert not (tmp_path / "store").exists() or not any((tmp_path / "store").rglob("*"))


def test_keygen_refuses_to_overwrite_a_key(tmp_path: Path) -> None:
    auditor = tmp_path / "auditor.key"
    auditor.write_text("keep me\n")
    result = runner.invoke(app, ["audit", "keygen", "--out", str(auditor)])
    assert result.exit_code == 1
    assert auditor.read_text() == "keep me\n"
