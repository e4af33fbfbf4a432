"""The patient page's API: typed data to sign, rounds covered, FHIR record, receipts, and the
static page itself (served locally, with a same-origin Content-Security-Policy)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from fastapi.testclient import TestClient

from api.app import create_app
from api.routers.page import ETHERS_UMD
from api.services import Services
from api.settings import Settings
from chain.transactions import Sender
from consent.fhir import record_from_fhir
from consent.ids import Bytes32
from consent.receipts import ReceiptTamperedError, verify_receipt
from consent.records import RoundResult, UpdateSubmission
from tests.unit.api.conftest import ApiWorld

RELAYER_PATIENT = 5  # a funded key the test holds: the relayer signs receipts locally


@pytest.fixture
def local_relayer(api: ApiWorld) -> Iterator[tuple[TestClient, str]]:
    world = api.world
    key = world.patients[RELAYER_PATIENT].key
    services = Services.for_ledger(world.coordinator, relayer=Sender.from_key(world.chain, key))
    with TestClient(create_app(Settings(), services=services)) as client:
        yield client, world.patients[RELAYER_PATIENT].address
    services.history.close()


def _base(api: ApiWorld, patient: int) -> str:
    return f"/v1/studies/{api.study_hex}/patients/{api.world.patient(patient)}"


def _sign_typed(api: ApiWorld, patient: int, typed: dict[str, Any]) -> str:
    """Sign exactly the JSON the page receives, as a wallet would (eth_signTypedData_v4)."""
    full = {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            **typed["types"],
        },
        "primaryType": typed["primaryType"],
        "domain": typed["domain"],
        "message": typed["message"],
    }
    signed = Account.sign_message(
        encode_typed_data(full_message=full), api.world.patients[patient].key
    )
    return "0x" + bytes(signed.signature).hex()


def test_typed_data_signed_as_served_revokes_and_returns_a_verifiable_receipt(
    api: ApiWorld, local_relayer: tuple[TestClient, str]
) -> None:
    client, relayer = local_relayer
    api.world.grant(0)
    typed = client.get(_base(api, 0) + "/revocation/typed-data").json()

    response = client.post(
        _base(api, 0) + "/revocation",
        json={"signature": _sign_typed(api, 0, typed), "deadline": typed["message"]["deadline"],
              "nonce": typed["message"]["nonce"]},
    )  # fmt: skip

    assert response.status_code == 201, response.text
    assert typed["primaryType"] == "Revocation"
    assert [f["name"] for f in typed["types"]["Revocation"]] == [
        "study", "patient", "nonce", "deadline",
    ]  # fmt: skip
    body = response.json()
    verified = verify_receipt(body["receipt"], expected_signer=relayer)
    assert (verified.kind, verified.tx_hash, verified.block_number) == (
        "revoked", body["tx_hash"], body["block_number"],
    )  # fmt: skip
    assert not api.world.coordinator.consents.is_consented(api.world.study, api.world.patient(0))
    tampered = {**body["receipt"], "piiControllers": [{"piiController": relayer}]}
    with pytest.raises(ReceiptTamperedError):
        verify_receipt(tampered)


def test_a_node_held_relayer_key_revokes_without_a_receipt(api: ApiWorld) -> None:
    api.world.grant(1)
    typed = api.client.get(_base(api, 1) + "/revocation/typed-data").json()

    response = api.client.post(
        _base(api, 1) + "/revocation",
        json={"signature": _sign_typed(api, 1, typed), "deadline": typed["message"]["deadline"]},
    )

    assert response.status_code == 201, response.text
    assert response.json()["receipt"] is None


def test_typed_data_for_an_unknown_patient_is_404(api: ApiWorld) -> None:
    response = api.client.get(_base(api, 2) + "/revocation/typed-data")

    assert response.status_code == 404
    assert response.json()["type"].endswith("patient-not-enrolled")


def test_rounds_list_only_updates_of_the_patients_hospital_while_consented(api: ApiWorld) -> None:
    world = api.world
    world.grant(0, hospital=0)
    world.grant(1, hospital=0)  # hospital 0 keeps a consent after patient 0 revokes
    world.grant(2, hospital=1)  # numPatients is bounded by each hospital's active consents
    hospital0, hospital1 = world.hospitals
    for round_ in range(3):
        world.aggregator.rounds.open_round(world.study, round_, Bytes32(b"\x01" * 32), "bafybase")
        for hospital in (hospital0, hospital1):
            hospital.rounds.submit_update(
                world.study, round_, UpdateSubmission(
                    update_hash=Bytes32(b"\x02" * 32), update_cid="bafyupd", num_samples=4,
                    num_patients=1, data_root=Bytes32(b"\x03" * 32),
                    consent_block=world.chain.block_number(),
                ),
            )  # fmt: skip
        world.aggregator.rounds.finalize_round(
            world.study, round_, RoundResult(
                model_hash=Bytes32(b"\x04" * 32), model_cid="bafymodel",
                metrics_cid="bafymetrics", considered_updates=2,
            ),
        )  # fmt: skip
        if round_ == 1:
            deadline = world.chain.block_timestamp() + 600
            world.coordinator.consents.revoke_with_sig(
                world.study, world.patient(0), deadline, world.revocation_sig(0, deadline=deadline)
            )

    body = api.client.get(_base(api, 0) + "/rounds").json()

    hospital_address = hospital0.consents.sender.address  # type: ignore[union-attr]
    assert [(r["round"], r["hospital"]) for r in body["rounds"]] == [
        (0, hospital_address), (1, hospital_address),
    ]  # fmt: skip
    assert all(r["state"] == "finalized" for r in body["rounds"])


def test_fhir_record_over_http_imports_back_to_the_chain_record(api: ApiWorld) -> None:
    granted = api.world.grant(3)

    resource = api.client.get(_base(api, 3) + "/consent/fhir").json()

    assert resource["status"] == "active"
    record = record_from_fhir(resource, now=api.world.chain.block_timestamp())
    assert (record.patient, record.granted_tx, record.granted_block) == (
        granted.patient, granted.tx_hash, granted.position.block_number,
    )  # fmt: skip
    assert record.registry == api.world.coordinator.consents.domain.verifying_contract


def test_the_page_is_served_with_a_same_origin_policy_and_its_signer_library(
    api: ApiWorld,
) -> None:
    page = api.client.get("/patient/")
    script = api.client.get("/patient/page.js")
    library = api.client.get("/patient/vendor/ethers.umd.min.js")

    assert page.status_code == 200
    assert '<label for="password">' in page.text
    policy = page.headers["content-security-policy"]
    assert "connect-src 'self'" in policy
    assert "script-src 'self'" in policy
    assert script.headers["content-type"].startswith("text/javascript")
    assert "signTypedData" in script.text
    assert library.status_code == 200
    assert len(library.content) == ETHERS_UMD.stat().st_size
    assert api.client.get("/patient/../../pyproject.toml").status_code == 404
    assert api.client.get("/patient/secrets.json").status_code == 404
