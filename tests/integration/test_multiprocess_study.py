"""A study across OS processes: the aggregator and three trainers as separate `consentfl`
processes over anvil and the js-ipfs node.

A patient of hospital 1 revokes after round 0. Trainer 3 is killed (SIGKILL) in the first round
it has not submitted to yet (round 1 unless it was quick): that round still finalizes on the
minimum plus the plan's timeout. The aggregator is killed (SIGKILL) while the next round is open;
trainer 3 is restarted and submits to that round while the aggregator is down; the restarted
aggregator resumes from the chain. All four rounds finalize, every model on IPFS matches its
on-chain hash, and hospital 1's exclusion proofs for the revoked patient verify against its later
on-chain data roots.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from eth_account import Account
from typer.testing import CliRunner
from web3.types import Wei

from api.cli import app
from api.enrolment import revoke_as_patient
from chain.connection import connect
from chain.deploy import Ledger, attach, deploy
from chain.devnet import ANVIL_DEV_KEY
from chain.manifest import save_manifest
from chain.round_ledger import RoundState
from chain.store import IpfsStore
from chain.transactions import Sender
from consent.ids import Bytes32, StudyId, parse_address, parse_bytes32, study_id
from consent.keys import load_keyring
from consent.smt import SmtProof, verify_non_membership
from fl.split import split_dataset, write_split

pytestmark = pytest.mark.integration

ROUNDS = 4
CLI = str(Path(sys.executable).parent / "consentfl")
PASSWORD = "integration-only"
STUDY = "multiprocess-study"


class Study:
    """Processes, files and chain handles of the study under test."""

    def __init__(self, tmp: Path, anvil: str, ipfs: str) -> None:
        self.tmp, self.anvil, self.ipfs = tmp, anvil, ipfs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: dict[str, Path] = {}
        self.chain = connect(anvil)
        self.coordinator: Ledger = attach(
            self.chain,
            deploy(self.chain, Sender.from_key(self.chain, ANVIL_DEV_KEY)),
            Sender.from_key(self.chain, ANVIL_DEV_KEY),
        )
        self.deployment = tmp / "deployment.json"
        save_manifest(self.coordinator.manifest, self.deployment)
        self.study: StudyId = study_id(STUDY)

    def funded_key(self, name: str) -> Path:
        account = Account.create()
        self.chain.w3.eth.send_transaction(
            {"from": self.chain.w3.eth.accounts[0], "to": account.address, "value": Wei(10**19)}
        )
        path = self.tmp / f"{name}.key"
        path.write_text(account.key.to_0x_hex() + "\n")
        path.chmod(0o600)
        return path

    def start(self, name: str, *args: str) -> None:
        log = self.logs.setdefault(name, self.tmp / f"{name}.log")
        with log.open("ab") as out:
            self.procs[name] = subprocess.Popen(
                [CLI, *args, "--rpc", self.anvil, "--json"],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.tmp,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    def kill(self, name: str) -> None:
        proc = self.procs[name]
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)

    def tails(self) -> str:
        parts = []
        for name, log in self.logs.items():
            lines = log.read_text(errors="replace").splitlines()[-15:] if log.exists() else []
            parts.append(f"--- {name} ---\n" + "\n".join(lines))
        return "\n".join(parts)

    def wait_for(self, what: str, condition: Callable[[], bool], timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.05)
        pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{self.tails()}")

    def round_state(self, round_: int) -> RoundState:
        if self.coordinator.rounds.round_count(self.study) <= round_:
            return RoundState.NONE
        return self.coordinator.rounds.get_round(self.study, round_).state

    def opened(self, round_: int) -> Callable[[], bool]:
        return lambda: self.round_state(round_) != RoundState.NONE

    def submitted(self, round_: int) -> set[str]:
        return {u.hospital for u in self.coordinator.rounds.get_updates(self.study, round_)}


def _cli(*args: str) -> dict[str, object]:
    result = CliRunner().invoke(
        app, [*args, "--json"], env={"CONSENTFL_KEYRING_PASSWORD": PASSWORD}
    )
    assert result.exit_code == 0, result.output
    payload: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return payload


def test_study_survives_a_killed_trainer_and_a_restarted_aggregator(
    tmp_path: Path, anvil: str, ipfs_node: str
) -> None:
    s = Study(tmp_path, anvil, ipfs_node)
    write_split(split_dataset("breast-cancer", 3, non_iid=False, seed=0), tmp_path / "split")
    keys = {name: s.funded_key(name) for name in ("aggregator", "h1", "h2", "h3")}
    hospitals = {
        n: parse_address(Account.from_key(keys[n].read_text().strip()).address)
        for n in ("h1", "h2", "h3")
    }
    init = _cli("aggregator", "init", "--seal-key-out", str(tmp_path / "seal.key"),
                "--data", str(tmp_path / "split" / "test.csv"), "--ipfs", ipfs_node,
                "--epochs", "1", "--round-timeout", "3")  # fmt: skip
    s.coordinator.studies.create_study(
        s.study,
        aggregator=parse_address(Account.from_key(keys["aggregator"].read_text().strip()).address),
        aggregator_seal_key=Bytes32(parse_bytes32(str(init["seal_public_key"]))),
        min_updates=2,
        metadata_cid=str(init["metadata_cid"]),
    )
    for address in hospitals.values():
        s.coordinator.studies.add_hospital(s.study, address)
    for k, name in enumerate(("h1", "h2", "h3"), start=1):
        data = tmp_path / "split" / f"hospital-{k}.csv"
        _cli("patients", "enroll", "--deployment", str(s.deployment), "--study", STUDY,
             "--key", str(keys[name]), "--data", str(data), "--out", str(tmp_path / f"{name}.csv"),
             "--keys-out", str(tmp_path / f"{name}.keys"), "--rpc", anvil)  # fmt: skip

    def trainer(name: str, poll: str = "0.2") -> None:
        s.start(name, "trainer", "--deployment", str(s.deployment), "--study", STUDY,
                "--key", str(keys[name]), "--data", str(tmp_path / f"{name}.csv"),
                "--ipfs", ipfs_node, "--state-dir", str(tmp_path / f"{name}-state"),
                "--rounds", str(ROUNDS), "--poll", poll,
                "--proofs-dir", str(tmp_path / "proofs"))  # fmt: skip

    def aggregator() -> None:
        s.start("aggregator", "aggregator", "--deployment", str(s.deployment), "--study",
                "multiprocess-study", "--key", str(keys["aggregator"]), "--seal-key",
                str(tmp_path / "seal.key"), "--rounds", str(ROUNDS), "--ipfs", ipfs_node,
                "--test", str(tmp_path / "split" / "test.csv"), "--poll", "0.2")  # fmt: skip

    patient = load_keyring(tmp_path / "h1.keys", PASSWORD)[0]  # revokes after round 0
    try:
        for name in ("h1", "h2"):
            trainer(name)
        trainer("h3", poll="1.5")  # slow to notice a round: killed before it submits
        s.wait_for(
            "the trainers to start",
            lambda: all(
                (tmp_path / f"{n}-state" / "consent-index.sqlite").exists() for n in hospitals
            ),
        )
        aggregator()
        s.wait_for("round 0 to finalize", lambda: s.round_state(0) == RoundState.FINALIZED, 150)
        deadline = s.chain.block_timestamp() + 3600
        revoked_block = revoke_as_patient(
            s.coordinator.consents, s.study, patient, deadline=deadline
        ).position.block_number
        killed_in = 1
        while True:  # kill trainer 3 in the first round it has not submitted to yet
            s.wait_for(
                f"round {killed_in} to open",
                s.opened(killed_in),
            )
            if hospitals["h3"] not in s.submitted(killed_in):
                s.kill("h3")
                break
            killed_in += 1
        assert hospitals["h3"] not in s.submitted(killed_in)
        s.wait_for(
            f"round {killed_in} to finalize without trainer 3",
            lambda: s.round_state(killed_in) == RoundState.FINALIZED,
        )
        metrics = json.loads(
            IpfsStore(ipfs_node).get(s.coordinator.rounds.get_round(s.study, killed_in).metrics_cid)
        )
        assert metrics["missing"] == [hospitals["h3"]]
        assert killed_in < ROUNDS - 2, "not enough rounds left to restart the aggregator"

        restart_in = killed_in + 1
        s.wait_for(
            f"round {restart_in} to open", lambda: s.round_state(restart_in) != RoundState.NONE
        )
        s.kill("aggregator")
        assert s.round_state(restart_in) == RoundState.OPEN
        trainer("h3")  # restarted while the aggregator is down: it rejoins the open round
        s.wait_for(
            f"the restarted trainer 3 to submit to round {restart_in}",
            lambda: hospitals["h3"] in s.submitted(restart_in),
        )
        aggregator()
        s.wait_for(
            "every round to finalize",
            lambda: s.round_state(ROUNDS - 1) == RoundState.FINALIZED,
            150,
        )
        for name in ("aggregator", "h1", "h2", "h3"):
            assert s.procs[name].wait(timeout=60) == 0, s.tails()
    finally:
        s.stop_all()

    store = IpfsStore(ipfs_node)
    for r in range(ROUNDS):
        record = s.coordinator.rounds.get_round(s.study, r)
        assert hashlib.sha256(store.get(record.model_cid)).digest() == record.model_hash
    assert s.submitted(restart_in) == set(hospitals.values())  # trainer 3 rejoined
    later = [
        (r, u)
        for r in range(ROUNDS)
        for u in s.coordinator.rounds.get_updates(s.study, r)
        if u.hospital == hospitals["h1"] and u.consent_block >= revoked_block
    ]
    assert len(later) >= ROUNDS - 2
    for r, update in later:
        path = (tmp_path / "proofs" / ("0x" + bytes(s.study).hex()) / hospitals["h1"] / str(r)
                / f"{patient.address}.json")  # fmt: skip
        proof = SmtProof.from_json(json.loads(path.read_text())["proof"])
        assert verify_non_membership(update.data_root, patient.address, proof)
