"""`consentfl api` as a real uvicorn process against anvil; `consentfl audit verify` on the same
study. The server runs on a free 127.0.0.1 port and is stopped by pid."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from typer.testing import CliRunner

from api.cli import app as cli
from chain.deploy import Ledger
from chain.dev_study import dev_account, one_hospital_study
from chain.devnet import free_port
from chain.manifest import save_manifest
from chain.store import LocalStore
from chain.transactions import Sender
from consent.eip712 import sign_consent, sign_revocation
from consent.formats.round_metrics import Decision, RoundMetrics
from consent.ids import Address, Bytes32, parse_address, study_id
from consent.keys import PatientKey, save_hex_key
from consent.records import RoundResult, UpdateSubmission
from consent.smt import DataTree
from fl.roles.contributions import contribution_record

pytestmark = pytest.mark.integration

STUDY = study_id("uvicorn-api-study")
FIRST = 6
"""Dev accounts 6, 7 and 8 deploy, are the hospital and aggregate (others on this session's
anvil use 0-2); 9 relays."""
POST_LIMIT = 6
"""POSTs per client IP the server allows (the tests send fewer before the rate-limit test)."""


@dataclass(frozen=True)
class Served:
    url: str
    ledger: Ledger
    patients: tuple[LocalAccount, ...]
    manifest: Path
    store: LocalStore
    rpc: str
    model_cid: str


def _sha(data: bytes) -> Bytes32:
    return Bytes32(hashlib.sha256(data).digest())


def _one_round(coordinator: Ledger, patients: tuple[LocalAccount, ...], store: LocalStore) -> str:
    chain = coordinator.chain
    aggregator = coordinator.with_sender(Sender.from_key(chain, dev_account(FIRST + 2).key))
    hospital = coordinator.with_sender(Sender.from_key(chain, dev_account(FIRST + 1).key))
    hospital_address = parse_address(dev_account(FIRST + 1).address)
    consents = hospital.consents
    for patient in patients:
        address = parse_address(patient.address)
        deadline = chain.block_timestamp() + 3600
        signature = sign_consent(
            patient.key, consents.domain, STUDY, address, hospital_address, 0,
            consents.grant_nonce(STUDY, address), deadline,
        )  # fmt: skip
        consents.grant(STUDY, address, 0, deadline, signature)
    base = b"initial model"
    aggregator.rounds.open_round(STUDY, 0, _sha(base), store.put(base))
    update = b"update of hospital 8"
    hospital.rounds.submit_update(
        STUDY,
        0,
        UpdateSubmission(
            update_hash=_sha(update),
            update_cid=store.put(update),
            num_samples=len(patients),
            num_patients=len(patients),
            data_root=DataTree.build([p.address for p in patients]).root,
            consent_block=chain.block_number(),
        ),
    )
    model = b"model after round 0"
    model_cid = store.put(model)
    metrics = RoundMetrics(
        round=0,
        accepted=((hospital_address, len(patients)),),
        rejected=(),
        decisions=(Decision(hospital_address, kept=True, weight=1.0),),
    )
    aggregator.rounds.finalize_round(
        STUDY, 0, RoundResult(
            model_hash=_sha(model), model_cid=model_cid,
            metrics_cid=store.put(metrics.to_json_bytes()), considered_updates=1,
        ),
    )  # fmt: skip
    # and, as the aggregator role does, the round's judgement on the Contributions contract
    assert aggregator.contributions is not None
    aggregator.contributions.record_round(STUDY, 0, contribution_record(metrics))
    return model_cid


def _wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"consentfl api exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/v1/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("consentfl api did not become healthy")


@pytest.fixture(scope="module")
def served(anvil: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    directory = tmp_path_factory.mktemp("api-uvicorn")
    coordinator = one_hospital_study(
        anvil,
        STUDY,
        metadata_cid="bafkreimeta",
        seal_key=Bytes32(b"\x02" * 32),
        first_account=FIRST,
    ).coordinator
    patients = tuple(Account.create() for _ in range(3))
    store = LocalStore(directory / "store")
    model_cid = _one_round(coordinator, patients, store)
    manifest = directory / "deployment.json"
    save_manifest(coordinator.manifest, manifest)
    relayer_key = directory / "relayer.key"
    save_hex_key(PatientKey.from_private_key(bytes(dev_account(9).key)), relayer_key)
    port = free_port()
    command = [
        str(Path(sys.executable).parent / "consentfl"),
        "api",
        "--deployment", str(manifest),
        "--relayer-key", str(relayer_key),
        "--rpc", anvil,
        "--ipfs", str(directory / "store"),
        "--port", str(port),
        "--log-level", "warning",
    ]  # fmt: skip
    log = (directory / "api.log").open("wb")
    env = {**os.environ, "CONSENTFL_POST_RATE_LIMIT": str(POST_LIMIT)}
    env["CONSENTFL_POST_RATE_WINDOW_SECONDS"] = "3600"
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, process)
        yield Served(url, coordinator, patients, manifest, store, anvil, model_cid)
    finally:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def _revocation(served: Served, index: int) -> tuple[str, dict[str, object]]:
    patient = served.patients[index]
    address = Address(parse_address(patient.address))
    consents = served.ledger.consents
    deadline = served.ledger.chain.block_timestamp() + 600
    signature = sign_revocation(
        patient.key,
        consents.domain,
        STUDY,
        address,
        consents.revocation_nonce(STUDY, address),
        deadline,
    )
    path = f"{served.url}/v1/studies/{'0x' + STUDY.hex()}/patients/{address}/revocation"
    return path, {"signature": "0x" + signature.hex(), "deadline": deadline}


def test_revocation_over_http_lands_on_anvil_once(served: Served) -> None:
    path, body = _revocation(served, 0)

    first = httpx.post(path, json=body, timeout=30)
    again = httpx.post(path, json=body, timeout=30)

    assert first.status_code == 201, first.text
    assert again.status_code == 200, again.text
    assert again.json()["tx_hash"] == first.json()["tx_hash"]
    address = parse_address(served.patients[0].address)
    record = served.ledger.consents.record(STUDY, address)
    assert record.revoked_block == first.json()["block_number"]
    status = httpx.get(path.replace("/revocation", "/consent"), timeout=30).json()
    assert [e["kind"] for e in status["history"]] == ["granted", "revoked"]


def _current_audit(url: str, timeout: float = 120) -> tuple[dict[str, object], int]:
    """Poll as a client would until the report covers the current block; (report, polls)."""
    deadline = time.monotonic() + timeout
    polls = 0
    while time.monotonic() < deadline:
        response = httpx.get(url, timeout=30)
        polls += 1
        assert response.status_code in (200, 202), response.text
        body = response.json()
        if response.status_code == 200 and body["up_to_date"]:
            return body, polls
        time.sleep(min(0.2, int(response.headers["Retry-After"])))
    raise AssertionError("no current audit report")


def test_rounds_and_audit_over_http(served: Served) -> None:
    study = "0x" + STUDY.hex()
    url = f"{served.url}/v1/studies/{study}/audit"

    rounds = httpx.get(f"{served.url}/v1/studies/{study}/rounds", timeout=30).json()
    audit, _ = _current_audit(url)

    assert [r["model_cid"] for r in rounds["rounds"]] == [served.model_cid]
    assert audit["passed"] is True, audit


def test_audit_is_cached_per_block_and_recomputed_in_the_background_after_one(
    served: Served,
) -> None:
    url = f"{served.url}/v1/studies/{'0x' + STUDY.hex()}/audit"
    first, _ = _current_audit(url)
    again = [httpx.get(url, timeout=30).json() for _ in range(3)]
    path, body = _revocation(served, 2)
    assert httpx.post(path, json=body, timeout=30).status_code == 201  # mines a block

    stale = httpx.get(url, timeout=30)
    fresh, _ = _current_audit(url)

    assert all(a["computed_at"] == first["computed_at"] and a["up_to_date"] for a in again)
    assert stale.status_code == 200
    assert stale.json()["block"] == first["block"]
    assert stale.json()["up_to_date"] is False
    assert fresh["block"] > first["block"]
    assert fresh["computed_at"] > first["computed_at"]


def test_posts_over_the_configured_rate_limit_get_429_with_retry_after(served: Served) -> None:
    path, _ = _revocation(served, 1)
    bad = {"signature": "0x" + "00" * 65, "deadline": 1}

    statuses = [httpx.post(path, json=bad, timeout=30) for _ in range(POST_LIMIT + 1)]

    limited = [r for r in statuses if r.status_code == 429]
    assert limited, [r.status_code for r in statuses]
    assert limited[0].headers["content-type"] == "application/problem+json"
    assert limited[0].json()["type"] == "urn:consentfl:problem:too-many-requests"
    assert 1 <= int(limited[0].headers["Retry-After"]) <= 3600
    assert httpx.get(path.replace("/revocation", "/consent"), timeout=30).status_code == 200


def test_audit_cli_passes_then_fails_naming_a_deleted_artifact(served: Served) -> None:
    args = [
        "audit", "verify", "--deployment", str(served.manifest), "--study", "uvicorn-api-study",
        "--rpc", served.rpc, "--ipfs", str(served.store.root), "--json",
    ]  # fmt: skip
    runner = CliRunner()

    honest = runner.invoke(cli, args)
    for path in served.store.block_paths(served.model_cid):
        path.unlink()
    broken = runner.invoke(cli, args)

    assert honest.exit_code == 0, honest.output
    assert json.loads(honest.stdout)["passed"] is True
    assert broken.exit_code == 1
    failed = [c for c in json.loads(broken.stdout)["checks"] if not c["passed"]]
    assert [(c["check"], c["round"]) for c in failed] == [("artifact", 0)]
    assert served.model_cid in failed[0]["subject"]
