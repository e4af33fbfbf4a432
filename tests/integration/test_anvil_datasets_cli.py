"""The dataset CLI against a real anvil node and a local store: a study declares thresholds, a
hospital whose card has ten unique records (k = 1) is refused by `dataset offer`, `study
add-hospital` and the contract; after `dataset anonymize` to k = 5 it is admitted, and `dataset
list` shows the card with the study using it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from eth_account import Account
from typer.testing import CliRunner

from api.cli import app
from chain import devnet

pytestmark = pytest.mark.integration

runner = CliRunner()
HOSPITAL_KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"


def _run(*args: str) -> dict[str, object]:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    payload: dict[str, object] = json.loads(result.output)
    return payload


def _data(path: Path) -> Path:
    rng = np.random.default_rng(4)
    rows = 240
    frame = pd.DataFrame(
        {
            "record_id": np.arange(rows),
            "age": rng.integers(3, 7, rows) * 10,
            "zip": rng.integers(0, 3, rows),
            "label": rng.integers(0, 2, rows),
        }
    )
    frame.loc[:9, "age"] = 100 + np.arange(10)  # ten unique records
    frame.to_csv(path, index=False)
    return path


def _card(data: Path, out: Path, store: Path) -> str:
    _run("dataset", "assess", "--data", str(data), "--quasi-identifiers", "age,zip",
         "--sensitive", "label", "--attacks", "20", "--card-out", str(out),
         "--ipfs", str(store))  # fmt: skip
    registered = _run("dataset", "register", "--deployment", str(out.parent / "d.json"),
                      "--rpc", RPC[0], "--key", str(out.parent / "hospital.key"),
                      "--card", str(out), "--ipfs", str(store))  # fmt: skip
    return str(registered["card_sha256"])


RPC: list[str] = []


def test_threshold_gate_through_the_cli_on_anvil(anvil: str, tmp_path: Path) -> None:
    RPC[:] = [anvil]
    deployer = tmp_path / "deployer.key"
    deployer.write_text(devnet.ANVIL_DEV_KEY + "\n")
    (tmp_path / "hospital.key").write_text(HOSPITAL_KEY + "\n")
    hospital = Account.from_key(HOSPITAL_KEY).address
    store = tmp_path / "store"
    out = tmp_path / "d.json"
    common = ["--deployment", str(out), "--rpc", anvil]
    _run("chain", "deploy", "--rpc", anvil, "--out", str(out), "--key", str(deployer))
    _run("study", "create", *common, "--key", str(deployer), "--study", "gated",
         "--aggregator", Account.from_key(devnet.ANVIL_DEV_KEY).address)  # fmt: skip
    _run("dataset", "thresholds", *common, "--key", str(deployer), "--study", "gated",
         "--min-k", "5", "--max-risk", "1")  # fmt: skip

    raw = _data(tmp_path / "raw.csv")
    weak = _card(raw, tmp_path / "weak.card.json", store)
    offer = ["dataset", "offer", *common, "--key", str(tmp_path / "hospital.key"),
             "--study", "gated", "--card-hash"]  # fmt: skip
    refused = runner.invoke(app, [*offer, weak])
    assert refused.exit_code == 1
    assert "DatasetBelowThreshold" in refused.output
    assert "criterion=k" in refused.output
    add = ["study", "add-hospital", *common, "--key", str(deployer), "--study", "gated",
           "--hospital", hospital]  # fmt: skip
    not_admitted = runner.invoke(app, add)
    assert not_admitted.exit_code == 1
    assert "NoDatasetOffered" in not_admitted.output

    anonymized = tmp_path / "k5.csv"
    result = _run("dataset", "anonymize", "--data", str(raw), "--quasi-identifiers", "age,zip",
                  "--sensitive", "label", "--k", "5", "--out", str(anonymized))  # fmt: skip
    assert result["target_met"] is True
    good = _card(anonymized, tmp_path / "k5.card.json", store)
    _run(*offer, good)
    _run(*add)
    listing = _run("dataset", "list", *common)
    by_hash = {d["card_sha256"]: d for d in listing["datasets"]}
    assert by_hash[weak]["k"] == 1
    assert by_hash[weak]["studies"] == []
    assert by_hash[good]["k"] >= 5
    assert len(by_hash[good]["studies"]) == 1
    assert by_hash[good]["hospital"] == hospital

    # the auditor rechecks the admitted member's card: registered, hashed, stored, thresholds met
    audit = _run("audit", "verify", *common, "--study", "gated", "--ipfs", str(store))
    dataset_checks = {
        c["check"]: (c["passed"], c["hospital"])
        for c in audit["checks"]  # type: ignore[attr-defined]
        if str(c["check"]).startswith("dataset-")
    }
    assert dataset_checks == {
        "dataset-card": (True, hospital),
        "dataset-threshold": (True, hospital),
    }
    assert audit["passed"] is True
