"""`consentfl api --workers 2` on a real anvil (issue 19): two uvicorn workers check and
forward, one batcher process sends. Concurrent revocations each land once and are answered
once, a repeat is "already revoked", a cancellation is forwarded and sent by the batcher, and
with the batcher killed a worker answers 503 relayer-unavailable at once (no hang)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
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
from consent.eip712 import sign_cancellation, sign_consent, sign_revocation
from consent.events import ConsentRevoked
from consent.ids import Bytes32, parse_address, study_id
from consent.keys import PatientKey, save_hex_key

pytestmark = pytest.mark.integration

STUDY = study_id("api-workers-study")
PATIENTS = 12


@dataclass
class Served:
    ledger: Ledger
    patients: tuple[LocalAccount, ...]
    url: str
    process: subprocess.Popen[bytes]
    log: Path


def _batcher_pid(parent: int) -> int:
    """The `python -m api.serving` child of `consentfl api` (of any of its threads: a restarted
    one is started by the watching thread)."""
    children = [
        child
        for task in Path(f"/proc/{parent}/task").iterdir()
        for child in (task / "children").read_text().split()
    ]
    for child in children:
        if b"api.serving" in Path(f"/proc/{child}/cmdline").read_bytes():
            return int(child)
    raise AssertionError(f"no batcher process among {children}")


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"consentfl api exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/v1/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("consentfl api --workers 2 did not become healthy")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from _serve(tmp_path_factory.mktemp("api-workers"))


@pytest.fixture
def doomed(tmp_path: Path) -> Iterator[Served]:
    """A server of its own, for the test that kills its batcher."""
    yield from _serve(tmp_path)


def _serve(directory: Path) -> Iterator[Served]:
    anvil = start_anvil(directory / "anvil")
    process = None
    try:
        study = one_hospital_study(
            anvil.url, STUDY, metadata_cid="bafkreiworkers", seal_key=Bytes32(b"\x05" * 32)
        )
        patients = tuple(Account.create() for _ in range(PATIENTS))
        domain = study.hospital.consents.domain
        hospital = study.hospital_address
        signed = [
            SignedConsent(
                parse_address(p.address),
                0,
                sign_consent(p.key, domain, STUDY, parse_address(p.address), hospital, 0, 0, 2**40),
                2**40,
            )
            for p in patients
        ]
        study.hospital.consents.grant_batch(STUDY, signed)
        manifest = directory / "deployment.json"
        save_manifest(study.coordinator.manifest, manifest)
        key = directory / "relayer.key"
        save_hex_key(PatientKey.from_private_key(bytes(dev_account(9).key)), key)
        port = free_port()
        command = [
            str(Path(sys.executable).parent / "consentfl"), "api", "--deployment", str(manifest),
            "--relayer-key", str(key), "--rpc", anvil.url, "--port", str(port),
            "--ipfs", str(directory / "store"), "--log-level", "warning", "--workers", "2",
        ]  # fmt: skip
        env = {**os.environ, "CONSENTFL_POST_RATE_LIMIT": "0"}
        log = directory / "api.log"
        with log.open("ab") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, process, log)
        yield Served(study.coordinator, patients, url, process, log)
    finally:
        if process is not None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        stop_service(anvil)


def _revoke(served: Served, index: int) -> httpx.Response:
    patient = served.patients[index]
    address = parse_address(patient.address)
    deadline = served.ledger.chain.block_timestamp() + 3600
    signature = sign_revocation(
        patient.key, served.ledger.consents.domain, STUDY, address, 0, deadline
    )
    path = f"{served.url}/v1/studies/0x{STUDY.hex()}/patients/{address}/revocation"
    body: dict[str, Any] = {"signature": "0x" + signature.hex(), "deadline": deadline}
    return httpx.post(path, json=body, timeout=60)


def test_concurrent_revocations_land_once_each_and_a_repeat_is_already_revoked(
    served: Served,
) -> None:
    indices = list(range(10))
    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda i: _revoke(served, i), indices))
    assert [a.status_code for a in answers] == [201] * 10, [a.text for a in answers]
    events = [e for e in served.ledger.consents.consent_events(0) if isinstance(e, ConsentRevoked)]
    assert sorted(e.patient for e in events) == sorted(
        parse_address(served.patients[i].address) for i in indices
    )
    for answer, i in zip(answers, indices, strict=True):
        body = answer.json()
        assert body["patient"] == parse_address(served.patients[i].address)
        assert body["already_revoked"] is False
        assert body["receipt"] is not None
    again = _revoke(served, 0)
    assert again.status_code == 200
    assert again.json()["already_revoked"] is True
    assert again.json()["tx_hash"] == answers[0].json()["tx_hash"]


def test_a_cancellation_is_forwarded_to_the_batcher(served: Served) -> None:
    patient = Account.create()  # never consented: a cancellation needs no consent
    address = parse_address(patient.address)
    deadline = served.ledger.chain.block_timestamp() + 3600
    domain = served.ledger.consents.domain
    signature = sign_cancellation(patient.key, domain, STUDY, address, 0, deadline)
    path = f"{served.url}/v1/studies/0x{STUDY.hex()}/patients/{address}/cancellation"
    body = {"signature": "0x" + signature.hex(), "deadline": deadline, "nonce": 0}
    answer = httpx.post(path, json=body, timeout=60)
    assert answer.status_code == 201, answer.text
    assert served.ledger.consents.revocation_nonce(STUDY, address) == 1
    replay = httpx.post(path, json=body, timeout=60)  # refused by the batcher's checks
    assert replay.status_code == 409
    assert replay.json()["type"].endswith("replayed-signature")


def test_a_worker_whose_batcher_is_gone_answers_503_until_it_is_restarted(
    doomed: Served,
) -> None:
    assert _revoke(doomed, 0).status_code == 201
    killed = _batcher_pid(doomed.process.pid)
    os.kill(killed, signal.SIGKILL)
    answer = _revoke(doomed, 1)  # at once: the restart waits a second, then starts a process
    assert answer.status_code == 503, answer.text
    assert answer.json()["type"].endswith("relayer-unavailable")
    assert "Retry-After" in answer.headers
    assert doomed.ledger.consents.is_consented(STUDY, parse_address(doomed.patients[1].address))
    deadline = time.monotonic() + 60
    while (answer := _revoke(doomed, 1)).status_code == 503 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert answer.status_code == 201, answer.text  # the same request, once the batcher is back
    assert _batcher_pid(doomed.process.pid) != killed
