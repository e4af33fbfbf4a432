"""Privacy mode "dp" over real nodes: `consentfl demo --mode dp` on anvil and the IPFS node, its
audit recomputing every charge; then an overspending charge refused by the contract on anvil."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from chain.budget_errors import BudgetExhaustedError
from chain.connection import connect
from chain.deploy import attach
from chain.manifest import load_manifest
from chain.transactions import Sender
from consent.ids import StudyId

CLI = [sys.executable, "-c", "from api.cli import app; app()"]


@pytest.fixture(scope="module")
def dp_demo(anvil: str, ipfs_node: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dp") / "out"
    proc = subprocess.run(
        [
            *CLI, "demo", "--out", str(out), "--mode", "dp", "--epsilon", "3",
            "--rounds", "2", "--hospitals", "2", "--revoke-after", "1", "--revocations", "1",
            "--local-epochs", "2", "--rpc", anvil, "--ipfs", ipfs_node,
        ],
        capture_output=True, text=True, timeout=280, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "epsilon spent of 3.0" in proc.stdout
    return out


def test_dp_rounds_over_anvil_and_ipfs_pass_the_recomputing_audit(dp_demo: Path) -> None:
    summary = json.loads((dp_demo / "summary.json").read_text())
    assert summary["audit"]["passed"] is True
    assert summary["mode"] == "dp"
    budget_checks = [c for c in summary["audit"]["checks"] if c["check"] == "privacy-budget"]
    charges = [c for c in budget_checks if c["subject"] == "charge"]
    assert len(charges) == 2 * 2  # every update of both rounds was charged and recomputed
    assert all(c["passed"] for c in budget_checks)
    spent = summary["epsilon_spent"]
    assert set(spent) == {"hospital-1", "hospital-2"}
    assert all(0 < e <= 3.0 for e in spent.values())
    assert not (dp_demo / "store").exists()  # artifacts went to the IPFS node


def test_overspending_charge_is_refused_on_anvil(anvil: str, dp_demo: Path) -> None:
    manifest = load_manifest(dp_demo / "deployment.json")
    chain = connect(anvil)
    hospital = Sender.unlocked(chain, list(chain.w3.eth.accounts)[2])  # the demo's hospital-1
    ledger = attach(chain, manifest, hospital)
    assert ledger.budget is not None
    study = StudyId(bytes.fromhex(json.loads((dp_demo / "summary.json").read_text())["study"][2:]))
    record = ledger.budget.record(study)
    assert record is not None
    before = ledger.budget.spent(study, hospital.address)
    assert before
    with pytest.raises(BudgetExhaustedError):
        ledger.budget.charge(study, 2, tuple(c + 1 for c in record.caps))
    assert ledger.budget.spent(study, hospital.address) == before
