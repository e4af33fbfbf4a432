"""Privacy mode "dp+secagg" over real nodes: `consentfl demo --mode dp+secagg` on anvil and the
IPFS node. Each hospital runs record-level DP-SGD, charges the round on the PrivacyBudget
contract, and masks its noised update; the aggregator learns only the sum; the audit runs both
the secagg check (the sum and the model recomputed bit for bit from the transcript) and the
privacy-budget check (every charge recomputed with the accountant)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

CLI = [sys.executable, "-c", "from api.cli import app; app()"]


@pytest.mark.timeout(300)
def test_dp_secagg_demo_over_anvil_and_ipfs_passes_both_checks(
    anvil: str, ipfs_node: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            *CLI, "demo", "--out", str(out), "--mode", "dp+secagg", "--epsilon", "3",
            "--rounds", "2", "--hospitals", "2", "--revoke-after", "1", "--revocations", "1",
            "--local-epochs", "1", "--rpc", anvil, "--ipfs", ipfs_node,
        ],
        capture_output=True, text=True, timeout=280, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "epsilon spent of 3.0" in proc.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["mode"] == "dp+secagg"
    assert summary["audit"]["passed"] is True
    checks = summary["audit"]["checks"]
    secagg = [c for c in checks if c["check"] == "secagg"]
    assert len(secagg) == 2
    assert all(c["passed"] and "model matches" in c["detail"] for c in secagg)
    charges = [c for c in checks if c["check"] == "privacy-budget" and c["subject"] == "charge"]
    assert len(charges) == 2 * 2  # every masked update of both rounds was charged
    assert all(c["passed"] for c in charges)
    spent = summary["epsilon_spent"]
    assert set(spent) == {"hospital-1", "hospital-2"}
    assert all(0 < e <= 3.0 for e in spent.values())
    # each revoked patient read the epsilon spent on their hospital's data from their consent
    # status over the HTTP API
    by_patient = summary["patient_epsilon"]
    assert len(by_patient) == 2
    assert all(any(abs(v - e) < 1e-9 for e in spent.values()) for v in by_patient.values())
    assert summary["secagg"]["threshold"] == 2
    assert not (out / "store").exists()  # artifacts went to the IPFS node
