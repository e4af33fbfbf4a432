"""`consentfl demo` as a user runs it: a real process, small settings, outputs checked."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

CLI = [sys.executable, "-c", "from api.cli import app; app()"]


def _demo(out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "demo", "--out", str(out), *args],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


@pytest.fixture(scope="module")
def demo_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    out = tmp_path_factory.mktemp("demo") / "out"
    proc = _demo(out, "--rounds", "3", "--hospitals", "2", "--revoke-after", "1")
    return out, proc


def test_demo_small_study_finishes_and_its_audit_passes(
    demo_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    out, proc = demo_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["audit"]["passed"] is True
    assert summary["audit"]["checks"], "the audit checked nothing"
    assert [r["round"] for r in summary["rounds"]] == [0, 1, 2]
    assert "PASSED" in proc.stdout


def test_demo_revoked_patients_are_dropped_only_after_they_revoke(
    demo_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    out, _ = demo_run
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["revoked"]) == 4  # 2 hospitals x 2 revocations
    before, *after = summary["rounds"]
    assert all(not reasons for reasons in before["dropped_rows"].values())
    for row in after:
        assert row["dropped_rows"] == {
            "hospital-1": {"revoked": 2},
            "hospital-2": {"revoked": 2},
        }
        for hospital, n in row["samples"].items():
            assert n == before["samples"][hospital] - 2


def test_demo_writes_manifest_report_plot_and_proofs(
    demo_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    out, _ = demo_run
    manifest = json.loads((out / "deployment.json").read_text())
    assert manifest["chain_id"] > 0
    assert "PASSED" in (out / "audit.html").read_text()
    assert (out / "accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    proofs = list((out / "proofs").rglob("*.json"))
    assert len(proofs) >= 4 * 2  # every revoked patient, every later round of their hospital
    summary = json.loads((out / "summary.json").read_text())
    cid = summary["rounds"][-1]["model_cid"]
    assert cid.startswith("bafk")


def test_demo_refuses_a_non_empty_out_dir_without_touching_it(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    proc = _demo(tmp_path)
    assert proc.returncode == 2
    assert "not empty" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_demo_against_anvil_and_the_ipfs_node_passes_its_audit(
    anvil: str, ipfs_node: str, tmp_path: Path
) -> None:
    out = tmp_path / "networked"
    proc = _demo(
        out,
        "--rounds", "2", "--hospitals", "2", "--revoke-after", "1", "--revocations", "1",
        "--rpc", anvil, "--ipfs", ipfs_node,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["audit"]["passed"] is True
    assert json.loads((out / "deployment.json").read_text())["chain_id"] == 31337
    assert not (out / "store").exists()  # artifacts went to the IPFS node
    assert summary["rounds"][1]["dropped_rows"]["hospital-1"] == {"revoked": 1}


def test_demo_iris_clusters_with_federated_kmeans_and_reports_the_ari(tmp_path: Path) -> None:
    """The clustering demo: a k-means++ seeding round, then Lloyd rounds of per-cluster sums,
    the test ARI in the summary and the plot, and every combine recomputed by the audit."""
    out = tmp_path / "out"
    proc = _demo(out, "--dataset", "iris", "--rounds", "3", "--hospitals", "2",
                 "--revoke-after", "1")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["audit"]["passed"] is True
    aris = [r["ari"] for r in summary["rounds"]]
    assert len(aris) == 3
    assert all(0.3 < a <= 1.0 for a in aris), aris
    combine = [c for c in summary["audit"]["checks"] if c["check"] == "combine"]
    assert [c["round"] for c in combine] == [0, 1, 2]
    assert "seeding" in combine[0]["detail"]
    assert (out / "accuracy.png").stat().st_size > 0
    assert "ari" in proc.stdout


def test_demo_unlearn_against_anvil_and_the_ipfs_node_rolls_back_and_passes_the_lineage_check(
    anvil: str, ipfs_node: str, tmp_path: Path
) -> None:
    """Issue 16: a revocation, the rollback round on chain, the retrained head, the lineage
    check, the metric before and after, and the patient's status, over real nodes."""
    out = tmp_path / "unlearn"
    proc = _demo(
        out,
        "--unlearn", "--rounds", "2", "--hospitals", "2", "--revoke-after", "1",
        "--revocations", "1", "--rpc", anvil, "--ipfs", ipfs_node,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["audit"]["passed"] is True
    unlearning = summary["unlearning"]
    assert unlearning["rollbacks"] == [{"round": 1, "base_round": 0, "patients": 2, "shards": [0]}]
    assert unlearning["head_lineage"] == [1, 2]  # round 0 carried the revoked patients
    assert [r["round"] for r in summary["rounds"]] == [0, 1, 2]
    assert unlearning["lineage_check"]["passed"] is True
    assert unlearning["lineage_check"]["checks"] >= 2
    assert 0.5 < unlearning["metric_after_retraining"] <= 1.0
    assert unlearning["metric_before_rollback"] == summary["rounds"][0]["accuracy"]
    status = unlearning["patient_status"]
    head_cid = summary["rounds"][-1]["model_cid"]
    assert status["state"] == "unlearned"
    assert status["message"].endswith(f"(round 2, {head_cid}) never trained on your data")
    assert all(p["verified"] for p in status["proofs"])
    assert "lineage check: PASSED" in proc.stdout


def test_demo_unlearn_with_sisa_shards_against_anvil_and_ipfs_retrains_only_the_hit_shards(
    anvil: str, ipfs_node: str, tmp_path: Path
) -> None:
    """Issue 16, S = 4: the rollback on chain names the revoked patients' shards only, those
    shards retrain alone from the initial model and then all train together, the audit passes
    (the composed base included), and the patient's status names their shard."""
    from consent.lineage import shard_of

    out = tmp_path / "shards"
    proc = _demo(
        out,
        "--unlearn", "--shards", "4", "--rounds", "2", "--hospitals", "2", "--revoke-after",
        "1", "--revocations", "1", "--rpc", anvil, "--ipfs", ipfs_node,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["audit"]["passed"] is True
    hit = sorted({shard_of(p, 4) for p in summary["revoked"]})
    unlearning = summary["unlearning"]
    assert unlearning["policy"]["shards"] == 4
    assert unlearning["rollbacks"] == [{"round": 1, "base_round": 0, "patients": 2, "shards": hit}]
    assert unlearning["head_lineage"] == [[1, 2] if s in hit else [0, 2] for s in range(4)]
    assert unlearning["lineage_check"]["passed"] is True
    status = unlearning["patient_status"]
    assert status["state"] == "unlearned"
    assert status["shard"] in hit
    assert f"your rows sat in shard {status['shard']} of 4" in status["message"]
    assert "retrains shard(s)" in proc.stdout
