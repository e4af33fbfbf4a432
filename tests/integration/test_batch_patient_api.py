"""A patient enrolled in a batch of first consents, whose per-patient record is not written on
chain yet, through a real `consentfl api` (uvicorn) on anvil: the status routes (API and CLI)
answer from the batch proof ("consented, batch N, not yet written on chain"), not "not enrolled";
a relayed revocation writes the record (`materializeConsent`, sent by the relayer's batcher through
its one nonce-counting sender, right before the batch) and revokes it (issue 19)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from typer.testing import CliRunner
from web3 import Web3

from api.cli import app as cli
from chain.consent_registry import SignedConsent
from chain.deploy import Ledger
from chain.dev_study import dev_account, one_hospital_study
from chain.devnet import free_port, start_anvil, stop_service
from chain.manifest import save_manifest
from consent.eip712 import sign_consent, sign_revocation
from consent.ids import Bytes32, parse_address, study_id
from consent.keys import PatientKey, save_hex_key

pytestmark = pytest.mark.integration

STUDY = study_id("batch-patient-api-study")


@dataclass
class World:
    rpc: str
    ledger: Ledger
    patients: tuple[LocalAccount, ...]
    manifest: Path
    url: str

    def status(self, index: int) -> httpx.Response:
        address = self.patients[index].address
        return httpx.get(f"{self.url}/v1/studies/0x{STUDY.hex()}/patients/{address}/consent")

    def cli_status(self, index: int) -> tuple[dict[str, Any], str]:
        patient = self.patients[index].address
        args = ["consent", "status", "--deployment", str(self.manifest), "--rpc", self.rpc,
                "--study", "0x" + STUDY.hex(), "--patient", patient]  # fmt: skip
        as_json = CliRunner().invoke(cli, [*args, "--json"])
        text = CliRunner().invoke(cli, args)
        assert as_json.exit_code == 0, as_json.output
        assert text.exit_code == 0, text.output
        return json.loads(as_json.output), text.output


def _serve(tmp: Path, rpc: str, manifest: Path) -> tuple[subprocess.Popen[bytes], str]:
    key = tmp / "relayer.key"
    save_hex_key(PatientKey.from_private_key(bytes(dev_account(9).key)), key)
    port = free_port()
    command = [
        str(Path(sys.executable).parent / "consentfl"), "api", "--deployment", str(manifest),
        "--relayer-key", str(key), "--rpc", rpc, "--port", str(port), "--log-level", "warning",
        "--ipfs", str(tmp / "store"),
    ]  # fmt: skip
    log = (tmp / "api.log").open("ab")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, f"consentfl api exited with {process.returncode}"
        try:
            if httpx.get(f"{url}/v1/health", timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    process.wait()
    raise AssertionError("consentfl api did not become healthy")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("batch-api")
    anvil = start_anvil(tmp / "anvil")
    process = None
    try:
        dev = one_hospital_study(
            anvil.url, STUDY, metadata_cid="bafkreibatchapi", seal_key=Bytes32(b"\x05" * 32)
        )
        ledger, hospital, hospital_address = dev.coordinator, dev.hospital, dev.hospital_address
        patients = tuple(Account.create() for _ in range(3))
        domain = hospital.consents.domain
        signed = [
            SignedConsent(
                parse_address(p.address),
                0,
                sign_consent(
                    p.key, domain, STUDY, parse_address(p.address), hospital_address, 0, 0, 2**40
                ),
                2**40,
            )
            for p in patients[:2]  # patient 2 is never enrolled
        ]
        hospital.consents.grant_first_batch(STUDY, signed)
        manifest = tmp / "deployment.json"
        save_manifest(ledger.manifest, manifest)
        process, url = _serve(tmp, anvil.url, manifest)
        yield World(anvil.url, ledger, patients, manifest, url)
    finally:
        if process is not None:
            os.kill(process.pid, signal.SIGTERM)
            process.wait(timeout=15)
        stop_service(anvil)


def test_status_of_a_batch_patient_comes_from_the_batch_proof(world: World) -> None:
    address = parse_address(world.patients[0].address)
    assert not world.ledger.consents.record(STUDY, address).exists  # not written on chain

    response = world.status(0)

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["consented"], body["batch"], body["revoked_block"]) == (True, 1, None)
    assert body["hospital"] == parse_address(dev_account(1).address)
    assert body["granted_block"] > 0
    assert body["nonces"]["Revocation"] == 0
    assert [e["kind"] for e in body["history"]] == ["granted"]
    payload, text = world.cli_status(0)
    assert (payload["consented"], payload["batch"]) == (True, 1)
    assert "consented (batch 1, not yet written on chain)" in text


def test_never_enrolled_patient_is_still_not_enrolled(world: World) -> None:
    assert world.status(2).status_code == 404
    payload, text = world.cli_status(2)
    assert (payload["consented"], payload["batch"]) == (False, None)
    assert "never granted" in text


def test_relayed_revocation_of_a_batch_patient_writes_its_record_then_revokes(
    world: World,
) -> None:
    patient = world.patients[1]
    address = parse_address(patient.address)
    consents = world.ledger.consents
    deadline = world.ledger.chain.block_timestamp() + 3600
    signature = sign_revocation(patient.key, consents.domain, STUDY, address, 0, deadline)

    response = httpx.post(
        f"{world.url}/v1/studies/0x{STUDY.hex()}/patients/{address}/revocation",
        json={"signature": "0x" + signature.hex(), "deadline": deadline},
        timeout=60,
    )

    assert response.status_code == 201, response.text
    record = consents.record(STUDY, address)
    assert record.exists
    assert record.revoked_block == response.json()["block_number"]
    revoke_tx = world.ledger.chain.w3.eth.get_transaction(HexBytes(response.json()["tx_hash"]))
    relayer = parse_address(dev_account(9).address)
    assert parse_address(revoke_tx["from"]) == relayer
    # the record was written by the relayer's own transaction, the nonce before the batch's
    sent = _relayer_transactions(world, address)
    assert [tx["nonce"] for tx in sent] == [revoke_tx["nonce"] - 1, revoke_tx["nonce"]]
    receipt = world.ledger.chain.w3.eth.get_transaction_receipt(sent[0]["hash"])
    assert receipt["status"] == 1
    assert [bytes(log["topics"][0]) for log in receipt["logs"]] == [MATERIALIZED]
    status = world.status(1).json()
    assert (status["consented"], status["batch"]) == (False, None)
    assert status["revoked_block"] == record.revoked_block
    assert world.status(0).json()["batch"] == 1  # the other batch patient is untouched


MATERIALIZED = bytes(Web3.keccak(text="ConsentMaterialized(bytes32,address,uint256)"))


def _relayer_transactions(world: World, patient: str) -> list[Any]:
    """The relayer's transactions whose input names `patient`, in block order."""
    w3 = world.ledger.chain.w3
    relayer = parse_address(dev_account(9).address)
    needle = bytes.fromhex(patient[2:].lower())
    found = []
    for number in range(w3.eth.block_number + 1):
        for tx in w3.eth.get_block(number, full_transactions=True)["transactions"]:
            assert not isinstance(tx, bytes)  # full transactions, not hashes
            if parse_address(tx["from"]) == relayer and needle in bytes(HexBytes(tx["input"])):
                found.append(tx)
    return found
