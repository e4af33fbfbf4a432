"""The auditor's commands end to end over anvil and the js-ipfs node, every role and every
command its own `consentfl` process.

The auditor creates a key (`audit keygen`), the coordinator lists its public half in the plan
(`aggregator init --auditor-key`), two hospitals and the aggregator run two rounds. Then:
`audit verify --auditor-key` opens every sealed update and recomputes every finalized model bit
for bit (exit 0); a key that is not in the plan opens nothing and the audit fails naming each
update (exit 1); `audit replay` rebuilds hospital 1's round from the rows it disclosed and
reproduces its committed update (exit 0); disclosing the rows without one patient (the lie of H1:
a root committed over other rows than the ones trained on) fails on the data root (exit 1).
"""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from chain.round_ledger import RoundState
from consent.ids import Bytes32, parse_address, parse_bytes32
from fl.split import split_dataset, write_split
from tests.integration.test_multiprocess_study import CLI, STUDY, Study, _cli

pytestmark = pytest.mark.integration

ROUNDS = 2
NAMES = ("h1", "h2")


def _consentfl(*args: str, timeout: float = 240) -> tuple[int, Any, str]:
    """Run one `consentfl` process with --json: (exit code, parsed stdout, stderr)."""
    proc = subprocess.run(
        [CLI, *args, "--json"], capture_output=True, text=True, timeout=timeout, check=False
    )
    try:
        payload = json.loads(proc.stdout)
    except json.JSONDecodeError:
        payload = None
    return proc.returncode, payload, proc.stdout[-2000:] + proc.stderr[-3000:]


@pytest.fixture(scope="module")
def audited_study(
    anvil: str, ipfs_node: str, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Study, dict[str, Path], str]:
    tmp = tmp_path_factory.mktemp("audit-cli")
    s = Study(tmp, anvil, ipfs_node)
    write_split(split_dataset("breast-cancer", 2, non_iid=False, seed=3), tmp / "split")
    code, auditor, output = _consentfl("audit", "keygen", "--out", str(tmp / "auditor.key"))
    assert code == 0, output
    keys = {name: s.funded_key(name) for name in ("aggregator", *NAMES)}
    init = _cli(
        "aggregator", "init", "--seal-key-out", str(tmp / "seal.key"),
        "--data", str(tmp / "split" / "test.csv"), "--ipfs", ipfs_node, "--epochs", "1",
        "--round-timeout", "0", "--auditor-key", str(auditor["auditor_public_key"]),
    )  # fmt: skip
    s.coordinator.studies.create_study(
        s.study,
        aggregator=parse_address(Account.from_key(keys["aggregator"].read_text().strip()).address),
        aggregator_seal_key=Bytes32(parse_bytes32(str(init["seal_public_key"]))),
        min_updates=len(NAMES),
        metadata_cid=str(init["metadata_cid"]),
    )
    for name in NAMES:
        address = Account.from_key(keys[name].read_text().strip()).address
        s.coordinator.studies.add_hospital(s.study, parse_address(address))
    for k, name in enumerate(NAMES, start=1):
        _cli(
            "patients", "enroll", "--deployment", str(s.deployment), "--study", STUDY,
            "--key", str(keys[name]), "--data", str(tmp / "split" / f"hospital-{k}.csv"),
            "--out", str(tmp / f"{name}.csv"), "--keys-out", str(tmp / f"{name}.keys"),
            "--rpc", anvil,
        )  # fmt: skip
    try:
        for name in NAMES:
            s.start(
                name, "trainer", "--deployment", str(s.deployment), "--study", STUDY,
                "--key", str(keys[name]), "--data", str(tmp / f"{name}.csv"),
                "--ipfs", ipfs_node, "--state-dir", str(tmp / f"{name}-state"),
                "--rounds", str(ROUNDS), "--poll", "0.2",
            )  # fmt: skip
        s.start(
            "aggregator", "aggregator", "--deployment", str(s.deployment), "--study", STUDY,
            "--key", str(keys["aggregator"]), "--seal-key", str(tmp / "seal.key"),
            "--rounds", str(ROUNDS), "--ipfs", ipfs_node,
            "--test", str(tmp / "split" / "test.csv"), "--poll", "0.2",
        )  # fmt: skip
        s.wait_for(
            "every round to finalize (or a role to fail)",
            lambda: (
                s.round_state(ROUNDS - 1) == RoundState.FINALIZED
                or any(p.poll() not in (None, 0) for p in s.procs.values())
            ),
            240,
        )
        for name in ("aggregator", *NAMES):
            assert s.procs[name].wait(timeout=60) == 0, s.tails()
    finally:
        s.stop_all()
    return s, keys, ipfs_node


def _common(s: Study, ipfs: str) -> list[str]:
    return ["--deployment", str(s.deployment), "--study", STUDY, "--ipfs", ipfs, "--rpc", s.anvil]


def test_audit_verify_with_the_auditor_key_recomputes_every_model(
    audited_study: tuple[Study, dict[str, Path], str],
) -> None:
    s, _, ipfs = audited_study

    code, report, output = _consentfl(
        "audit", "verify", *_common(s, ipfs), "--auditor-key", str(s.tmp / "auditor.key")
    )

    assert code == 0, output
    assert report["passed"] is True
    recompute = [c for c in report["checks"] if c["check"] == "recompute"]
    assert [c["round"] for c in recompute] == list(range(ROUNDS))
    assert all(c["passed"] and "bit-exactly" in c["detail"] for c in recompute), recompute


def test_audit_verify_with_a_key_not_in_the_plan_fails_naming_every_update(
    audited_study: tuple[Study, dict[str, Path], str],
) -> None:
    s, _, ipfs = audited_study
    code, _, output = _consentfl("audit", "keygen", "--out", str(s.tmp / "stranger.key"))
    assert code == 0, output

    code, report, output = _consentfl(
        "audit", "verify", *_common(s, ipfs), "--auditor-key", str(s.tmp / "stranger.key")
    )

    assert code == 1, output
    assert report["passed"] is False
    failed = [c for c in report["checks"] if c["check"] == "recompute" and not c["passed"]]
    hospitals = {
        u.hospital for r in range(ROUNDS) for u in s.coordinator.rounds.get_updates(s.study, r)
    }
    assert {(c["round"], c["hospital"]) for c in failed if c["hospital"]} == {
        (r, h) for r in range(ROUNDS) for h in hospitals
    }


def _hospital(s: Study, keys: dict[str, Path], name: str) -> str:
    return str(parse_address(Account.from_key(keys[name].read_text().strip()).address))


def test_audit_replay_reproduces_the_hospitals_update_from_its_disclosed_rows(
    audited_study: tuple[Study, dict[str, Path], str],
) -> None:
    s, keys, ipfs = audited_study

    code, replay, output = _consentfl(
        "audit", "replay", *_common(s, ipfs), "--round", "1",
        "--hospital", _hospital(s, keys, "h1"), "--data", str(s.tmp / "h1.csv"),
        "--auditor-key", str(s.tmp / "auditor.key"),
    )  # fmt: skip

    assert code == 0, output
    assert replay["passed"] is True
    assert {f["step"] for f in replay["findings"]} >= {"data-root", "update"}, replay


def test_audit_replay_of_rows_without_a_patient_fails_on_the_data_root(
    audited_study: tuple[Study, dict[str, Path], str],
) -> None:
    s, keys, ipfs = audited_study
    with (s.tmp / "h1.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))
    disclosed = s.tmp / "h1-without-one.csv"
    with disclosed.open("w", newline="") as handle:
        csv.writer(handle).writerows([rows[0], *rows[2:]])  # the first patient left out

    code, replay, output = _consentfl(
        "audit", "replay", *_common(s, ipfs), "--round", "1",
        "--hospital", _hospital(s, keys, "h1"), "--data", str(disclosed),
        "--auditor-key", str(s.tmp / "auditor.key"),
    )  # fmt: skip

    assert code == 1, output
    assert replay["passed"] is False
    failed = {f["step"] for f in replay["findings"] if not f["passed"]}
    assert "data-root" in failed, replay
