"""The relayer killed between accepting revocations and their mining: restarted on the same
journal, it resends them, and each lands exactly once (issue 19).

A real `consentfl api` (uvicorn) relays against its own anvil with automine switched off, so the
accepted batch sits unmined in the mempool when the server is SIGKILLed. Two cases: the pending
transaction is lost with the server (dropped from the node) and must be resent; or it is mined
after the crash, and the resend must not revoke twice (the contract skips it).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from chain.consent_registry import SignedConsent
from chain.deploy import Ledger
from chain.dev_study import dev_account, one_hospital_study
from chain.devnet import free_port, start_anvil, stop_service
from chain.manifest import save_manifest
from consent.eip712 import Eip712Domain, sign_consent, sign_revocation
from consent.events import ConsentRevoked
from consent.ids import Address, Bytes32, parse_address, study_id
from consent.keys import PatientKey, save_hex_key

pytestmark = pytest.mark.integration

STUDY = study_id("relayer-restart-study")


@dataclass
class World:
    rpc: str
    ledger: Ledger
    patients: tuple[LocalAccount, ...]
    directory: Path
    manifest: Path
    key: Path

    @property
    def journal(self) -> Path:
        return self.key.with_name(self.key.name + ".journal.json")

    def rpc_call(self, method: str, *params: Any) -> Any:
        return self.ledger.chain.w3.provider.make_request(method, list(params))  # type: ignore[arg-type]

    def journalled(self) -> int:
        if not self.journal.exists():
            return 0
        return len(json.loads(self.journal.read_text())["pending"])

    def revoked_events(self, patient: Address) -> list[ConsentRevoked]:
        return [
            e
            for e in self.ledger.consents.consent_events(0)
            if isinstance(e, ConsentRevoked) and e.patient == patient
        ]


def _consent(patient: LocalAccount, domain: Eip712Domain, hospital: Address) -> bytes:
    address = parse_address(patient.address)
    return sign_consent(patient.key, domain, STUDY, address, hospital, 0, 0, 2**40)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    anvil = start_anvil(tmp_path / "anvil")
    try:
        study = one_hospital_study(
            anvil.url, STUDY, metadata_cid="bafkreirestart", seal_key=Bytes32(b"\x04" * 32)
        )
        patients = tuple(Account.create() for _ in range(3))
        domain = study.hospital.consents.domain
        study.hospital.consents.grant_batch(
            STUDY,
            [
                SignedConsent(
                    parse_address(p.address),
                    0,
                    _consent(p, domain, study.hospital_address),
                    2**40,
                )
                for p in patients
            ],
        )
        manifest = tmp_path / "deployment.json"
        save_manifest(study.coordinator.manifest, manifest)
        key = tmp_path / "relayer.key"
        save_hex_key(PatientKey.from_private_key(bytes(dev_account(9).key)), key)
        yield World(anvil.url, study.coordinator, patients, tmp_path, manifest, key)
    finally:
        stop_service(anvil)


def _serve(world: World) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [
        str(Path(sys.executable).parent / "consentfl"), "api", "--deployment", str(world.manifest),
        "--relayer-key", str(world.key), "--rpc", world.rpc, "--port", str(port),
        "--ipfs", str(world.directory / "store"), "--log-level", "warning",
    ]  # fmt: skip
    env = {**os.environ, "CONSENTFL_POST_RATE_LIMIT": "0"}
    log = (world.directory / "api.log").open("ab")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    log.close()
    url = f"http://127.0.0.1:{port}"
    try:
        _until(lambda: _healthy(url, process), "consentfl api did not become healthy", 120)
    except BaseException:
        process.kill()  # never leave a server behind
        process.wait()
        raise
    return process, url


def _healthy(url: str, process: subprocess.Popen[bytes]) -> bool:
    if process.poll() is not None:
        raise AssertionError(f"consentfl api exited with {process.returncode}")
    try:
        return httpx.get(f"{url}/v1/health", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _until(check: Callable[[], bool], message: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(message)


def _post_in_background(world: World, url: str, index: int) -> threading.Thread:
    patient = world.patients[index]
    address = parse_address(patient.address)
    deadline = world.ledger.chain.block_timestamp() + 3600
    domain = world.ledger.consents.domain
    signature = sign_revocation(patient.key, domain, STUDY, address, 0, deadline)
    path = f"{url}/v1/studies/0x{STUDY.hex()}/patients/{address}/revocation"
    body = {"signature": "0x" + signature.hex(), "deadline": deadline}

    def post() -> None:
        with contextlib.suppress(httpx.TransportError):  # the server is killed under it
            httpx.post(path, json=body, timeout=60)

    thread = threading.Thread(target=post, daemon=True)
    thread.start()
    return thread


def _pending_transactions(world: World) -> int:
    content = world.rpc_call("txpool_content")["result"]
    return sum(len(by_nonce) for by_nonce in content["pending"].values())


def _kill_after_accepting(world: World, indices: list[int]) -> None:
    """Start the API, have it accept revocations of `indices` with mining off, SIGKILL it."""
    world.rpc_call("evm_setAutomine", False)
    process, url = _serve(world)
    try:
        threads = [_post_in_background(world, url, i) for i in indices]
        _until(lambda: world.journalled() == len(indices), "the relayer journalled nothing")
        _until(lambda: _pending_transactions(world) >= 1, "the relayer sent nothing")
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    for thread in threads:
        thread.join(timeout=30)
    for i in indices:
        assert world.revoked_events(parse_address(world.patients[i].address)) == []


def _restart_and_settle(world: World) -> None:
    world.rpc_call("evm_setAutomine", True)
    process, _ = _serve(world)
    try:
        _until(lambda: world.journalled() == 0, "the restarted relayer left the journal full")
    finally:
        os.kill(process.pid, signal.SIGTERM)
        process.wait(timeout=15)


def test_killed_relayer_resends_a_lost_batch_and_each_revocation_lands_once(world: World) -> None:
    _kill_after_accepting(world, [0, 1])
    assert world.journal.stat().st_mode & 0o777 == 0o600
    world.rpc_call("anvil_dropAllTransactions")  # the batch died with the relayer
    assert _pending_transactions(world) == 0
    _restart_and_settle(world)
    for i in (0, 1):
        address = parse_address(world.patients[i].address)
        assert len(world.revoked_events(address)) == 1
        assert not world.ledger.consents.is_consented(STUDY, address)
    assert world.ledger.consents.is_consented(STUDY, parse_address(world.patients[2].address))


def test_killed_relayer_whose_batch_still_lands_does_not_revoke_twice(world: World) -> None:
    _kill_after_accepting(world, [2])
    world.rpc_call("evm_mine")  # the batch sent before the crash is mined after it
    address = parse_address(world.patients[2].address)
    assert len(world.revoked_events(address)) == 1
    _restart_and_settle(world)  # resends the journalled entry: the contract skips it
    assert len(world.revoked_events(address)) == 1
    assert world.ledger.consents.revocation_nonce(STUDY, address) == 1
