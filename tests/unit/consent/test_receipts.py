"""Consent receipts: signed, verified offline, and every change after signing is caught."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from eth_account import Account

from consent.eip712 import consent_registry_domain
from consent.events import ConsentGranted, ConsentRevoked, EventPosition
from consent.ids import Address, StudyId
from consent.receipts import (
    ReceiptFormatError,
    ReceiptSignerMismatchError,
    ReceiptTamperedError,
    build_receipt,
    receipt_message,
    verify_receipt,
)

ISSUER = Account.from_key(b"\x11" * 32)
OTHER = Account.from_key(b"\x22" * 32)
PATIENT = Address(Account.from_key(b"\x33" * 32).address)
HOSPITAL = Address(Account.from_key(b"\x44" * 32).address)
STUDY = StudyId(b"\x05" * 32)
DOMAIN = consent_registry_domain(31337, Address("0x5FbDB2315678afecb367f032d93F642f64180aa3"))
TX = "0x" + "ab" * 32


def _revoked() -> ConsentRevoked:
    return ConsentRevoked(STUDY, PATIENT, HOSPITAL, EventPosition(42, 1), TX, 1_700_000_000)


def _granted(expires_at: int = 0) -> ConsentGranted:
    return ConsentGranted(
        STUDY, PATIENT, HOSPITAL, expires_at, 0, EventPosition(7, 0), TX, 1_690_000_000
    )


def _receipt(event: Any = None, signer: Any = ISSUER) -> dict[str, Any]:
    return build_receipt(
        event or _revoked(),
        DOMAIN,
        issuer=Address(ISSUER.address),
        sign=lambda m: bytes(signer.sign_message(m).signature),
        issued_at=1_700_000_100,
    )


def test_a_revocation_receipt_verifies_offline_and_states_the_chain_facts() -> None:
    verified = verify_receipt(_receipt(), expected_signer=ISSUER.address)

    assert verified.kind == "revoked"
    assert (verified.patient, verified.hospital, verified.issuer) == (
        PATIENT,
        HOSPITAL,
        ISSUER.address,
    )
    assert (verified.tx_hash, verified.block_number) == (TX, 42)
    assert verified.study == "0x" + "05" * 32


def test_a_grant_receipt_is_kantara_shaped_and_names_its_expiry() -> None:
    receipt = _receipt(_granted(expires_at=1_800_000_000))

    assert receipt["version"] == "KI-CR-v1.1.0"
    assert receipt["piiPrincipalId"] == PATIENT
    assert receipt["piiControllers"][0]["piiController"] == HOSPITAL
    assert receipt["event"]["type"] == "granted"
    assert receipt["event"]["expiresAt"] == 1_800_000_000
    assert "expires 2027-01-15" in receipt["services"][0]["purposes"][0]["termination"]
    assert receipt["chain"] == {"chainId": 31337, "registry": DOMAIN.verifying_contract}
    assert verify_receipt(receipt).kind == "granted"


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("event", "blockNumber"), 43),
        (("event", "txHash"), "0x" + "cd" * 32),
        (("event", "type"), "granted"),
        (("issuedAt",), "2030-01-01T00:00:00Z"),
        (("services", 0, "purposes", 0, "purpose"), "selling data"),
    ],
)
def test_a_field_changed_after_signing_fails_as_tampered(path: tuple[Any, ...], value: Any) -> None:
    receipt = _receipt()
    target: Any = receipt
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value

    with pytest.raises(ReceiptTamperedError) as caught:
        verify_receipt(receipt)
    assert caught.value.issuer == ISSUER.address


def test_a_receipt_signed_by_someone_else_than_its_issuer_is_tampered() -> None:
    with pytest.raises(ReceiptTamperedError) as caught:
        verify_receipt(_receipt(signer=OTHER))
    assert caught.value.recovered == OTHER.address


def test_an_issuer_swapped_to_match_a_forged_signature_fails_the_expected_signer() -> None:
    forged = _receipt()
    forged["issuer"] = OTHER.address
    del forged["proof"]
    forged["proof"] = {
        "signature": "0x" + OTHER.sign_message(receipt_message(forged)).signature.hex()
    }

    assert verify_receipt(forged).issuer == OTHER.address  # self-consistent ...
    with pytest.raises(ReceiptSignerMismatchError):  # ... but not the relayer the patient knows
        verify_receipt(forged, expected_signer=ISSUER.address)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda r: r.pop("proof"), "proof"),
        (lambda r: r["event"].pop("txHash"), "event.txHash"),
        (lambda r: r.update(format="other"), "format"),
        (lambda r: r.update(piiPrincipalId=HOSPITAL), "piiPrincipalId"),
        (lambda r: r["event"].update(patient=PATIENT.lower()), "event.patient"),
        (lambda r: r["proof"].update(signature=7), "proof.signature"),
    ],
)
def test_a_malformed_receipt_names_the_field(change: Any, field: str) -> None:
    receipt = copy.deepcopy(_receipt())
    change(receipt)

    with pytest.raises(ReceiptFormatError) as caught:
        verify_receipt(receipt)
    assert caught.value.field == field


def test_a_garbage_signature_is_tampered_not_a_crash() -> None:
    receipt = _receipt()
    receipt["proof"]["signature"] = "0xzz"

    with pytest.raises(ReceiptTamperedError) as caught:
        verify_receipt(receipt)
    assert caught.value.recovered is None
