"""GET /v1/eip712: a client that reads only this endpoint signs a revocation the chain accepts."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

from api.problems import WWW_AUTHENTICATE
from chain.compile import load_artifact
from chain.errors import InvalidSignerError
from tests.fixtures.ledger import sender_of
from tests.unit.api.conftest import ApiWorld


def _type_hash(name: str, fields: list[dict[str, str]]) -> bytes:
    members = ",".join(f"{f['type']} {f['name']}" for f in fields)
    return keccak(text=f"{name}({members})")


def test_published_domain_is_the_deployed_contracts_and_names_the_401_realm(api: ApiWorld) -> None:
    body = api.client.get("/v1/eip712").json()
    consents = api.world.coordinator.consents

    assert body["domain"] == consents.domain.as_dict()
    assert body["domain"]["chainId"] == api.world.chain.chain_id
    assert body["domain"]["verifyingContract"] == consents.address
    assert f'EIP712 realm="{body["domain"]["name"]}"' == WWW_AUTHENTICATE
    types = body["types"]
    separator = keccak(
        _type_hash("EIP712Domain", types["EIP712Domain"])
        + keccak(text=body["domain"]["name"])
        + keccak(text=body["domain"]["version"])
        + body["domain"]["chainId"].to_bytes(32, "big")
        + bytes(12)
        + bytes.fromhex(body["domain"]["verifyingContract"][2:])
    )
    assert separator == consents.domain_separator()


def test_published_types_hash_to_every_typehash_of_the_contract(api: ApiWorld) -> None:
    body = api.client.get("/v1/eip712").json()
    consents = api.world.coordinator.consents
    typehashes = sorted(
        entry["name"]
        for entry in load_artifact("ConsentRegistry").abi
        if entry.get("type") == "function" and entry["name"].endswith("_TYPEHASH")
    )

    published = sorted(body["primary_types"])
    assert [n.removesuffix("_TYPEHASH") for n in typehashes] == [p.upper() for p in published]
    for name in published:
        assert _type_hash(name, body["types"][name]) == consents._call(f"{name.upper()}_TYPEHASH")


def test_a_revocation_signed_from_the_published_types_alone_is_relayed(api: ApiWorld) -> None:
    api.world.grant(0)
    patient = api.world.patients[0]
    base = f"/v1/studies/{api.study_hex}/patients/{patient.address}"
    published = api.client.get("/v1/eip712").json()
    nonce = api.client.get(f"{base}/consent").json()["nonce"]
    deadline = api.world.chain.block_timestamp() + 600
    message = {
        "types": {
            "EIP712Domain": published["types"]["EIP712Domain"],
            "Revocation": published["types"]["Revocation"],
        },
        "primaryType": "Revocation",
        "domain": published["domain"],
        "message": {
            "study": bytes.fromhex(api.study_hex[2:]),
            "patient": patient.address,
            "nonce": nonce,
            "deadline": deadline,
        },
    }
    signature = Account.sign_message(encode_typed_data(full_message=message), patient.key)

    response = api.client.post(
        f"{base}/revocation",
        json={"signature": "0x" + bytes(signature.signature).hex(), "deadline": deadline},
    )

    assert response.status_code == 201, response.text
    assert not api.world.coordinator.consents.is_consented(api.world.study, api.world.patient(0))


def _sign_published(
    published: dict[str, Any], primary: str, message: dict[str, Any], key: bytes
) -> bytes:
    typed = {
        "types": {
            "EIP712Domain": published["types"]["EIP712Domain"],
            primary: published["types"][primary],
        },
        "primaryType": primary,
        "domain": published["domain"],
        "message": message,
    }
    return bytes(Account.sign_message(encode_typed_data(full_message=typed), key).signature)


def test_status_nonces_are_keyed_by_the_published_primary_types_and_sign_what_the_chain_takes(
    api: ApiWorld,
) -> None:
    world = api.world
    world.grant(0)
    patient = world.patients[0]
    hospital = world.hospitals[0]
    consents = world.coordinator.consents
    status_url = f"/v1/studies/{api.study_hex}/patients/{patient.address}/consent"
    published = api.client.get("/v1/eip712").json()
    nonces = api.client.get(status_url).json()["nonces"]
    assert sorted(nonces) == sorted(published["primary_types"])
    assert nonces["Consent"] == consents.grant_nonce(world.study, world.patient(0))
    deadline = world.chain.block_timestamp() + 600
    study = bytes.fromhex(api.study_hex[2:])

    renewal = _sign_published(
        published,
        "Consent",
        {"study": study, "patient": patient.address, "hospital": sender_of(hospital),
         "expiresAt": 0, "nonce": nonces["Consent"], "deadline": deadline},
        patient.key,
    )  # fmt: skip
    hospital.consents.grant(world.study, world.patient(0), 0, deadline, renewal)
    nonces = api.client.get(status_url).json()["nonces"]
    pending = world.consent_sig(0, hospital, deadline=deadline)  # held, not yet submitted
    cancellation = _sign_published(
        published,
        "Cancellation",
        {"study": study, "patient": patient.address, "nonce": nonces["Cancellation"],
         "deadline": deadline},
        patient.key,
    )  # fmt: skip
    world.outsider.consents.cancel_pending_with_sig(
        world.study, world.patient(0), deadline, cancellation
    )

    after = api.client.get(status_url).json()
    assert after["nonces"]["Cancellation"] == after["nonces"]["Revocation"] == after["nonce"]
    assert after["nonce"] == nonces["Revocation"] + 1
    assert after["nonces"]["Consent"] > nonces["Consent"]
    with pytest.raises(InvalidSignerError):
        hospital.consents.grant(world.study, world.patient(0), 0, deadline, pending)
