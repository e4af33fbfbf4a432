"""EIP-712 consent and revocation signing: round trips, tampering, agreement with the contract."""

from __future__ import annotations

import dataclasses

import pytest
from eth_account import Account
from eth_utils import keccak

from consent.eip712 import (
    CANCELLATION_TYPE,
    CONSENT_TYPE,
    REVOCATION_TYPE,
    InvalidSignatureError,
    consent_registry_domain,
    recover_cancellation_signer,
    recover_consent_signer,
    recover_revocation_signer,
    sign_cancellation,
    sign_consent,
    sign_revocation,
)
from consent.ids import Address, parse_address, study_id
from tests.fixtures.ledger import LedgerWorld

PATIENT = Account.from_key(keccak(text="eip712 patient"))
HOSPITAL = parse_address("0x" + "ab" * 20)
DOMAIN = consent_registry_domain(31337, parse_address("0x" + "cd" * 20))
STUDY = study_id("eip712")


def _patient() -> Address:
    return parse_address(PATIENT.address)


def test_consent_signature_recovers_to_the_patient() -> None:
    signature = sign_consent(PATIENT.key, DOMAIN, STUDY, _patient(), HOSPITAL, 0, 7, 99)
    assert len(signature) == 65
    assert recover_consent_signer(DOMAIN, STUDY, _patient(), HOSPITAL, 0, 7, 99, signature) == (
        _patient()
    )


@pytest.mark.parametrize(
    "change",
    [
        {"nonce": 8},
        {"deadline": 100},
        {"expires_at": 1},
        {"hospital": parse_address("0x" + "ef" * 20)},
        {"study": study_id("other")},
        {"domain": dataclasses.replace(DOMAIN, chain_id=1)},
        {"domain": dataclasses.replace(DOMAIN, version="2")},
    ],
)
def test_consent_signature_over_changed_fields_recovers_someone_else(
    change: dict[str, object],
) -> None:
    fields: dict[str, object] = {
        "domain": DOMAIN,
        "study": STUDY,
        "patient": _patient(),
        "hospital": HOSPITAL,
        "expires_at": 0,
        "nonce": 7,
        "deadline": 99,
    }
    signature = sign_consent(PATIENT.key, **fields)  # type: ignore[arg-type]
    fields.update(change)
    assert recover_consent_signer(signature=signature, **fields) != _patient()  # type: ignore[arg-type]


def test_revocation_signature_recovers_to_the_patient_only_for_its_nonce() -> None:
    signature = sign_revocation(PATIENT.key, DOMAIN, STUDY, _patient(), 3, 10**10)
    assert recover_revocation_signer(DOMAIN, STUDY, _patient(), 3, 10**10, signature) == (
        _patient()
    )
    assert recover_revocation_signer(DOMAIN, STUDY, _patient(), 4, 10**10, signature) != (
        _patient()
    )


def test_cancellation_is_not_a_revocation() -> None:
    signature = sign_cancellation(PATIENT.key, DOMAIN, STUDY, _patient(), 3, 10**10)
    assert recover_cancellation_signer(DOMAIN, STUDY, _patient(), 3, 10**10, signature) == (
        _patient()
    )
    assert recover_revocation_signer(DOMAIN, STUDY, _patient(), 3, 10**10, signature) != (
        _patient()
    )


def test_garbage_signature_raises_invalid_signature() -> None:
    with pytest.raises(InvalidSignatureError):
        recover_consent_signer(DOMAIN, STUDY, _patient(), HOSPITAL, 0, 0, 1, b"\x01" * 10)


def test_expiry_outside_uint64_is_refused_before_signing() -> None:
    with pytest.raises(ValueError, match="uint64"):
        sign_consent(PATIENT.key, DOMAIN, STUDY, _patient(), HOSPITAL, 2**64, 0, 1)
    with pytest.raises(ValueError, match="uint64"):
        sign_consent(PATIENT.key, DOMAIN, STUDY, _patient(), HOSPITAL, 0, 0, 2**64)


def _type_hash(name: str, spec: tuple[tuple[str, str], ...]) -> bytes:
    return keccak(text=f"{name}({','.join(f'{t} {n}' for n, t in spec)})")


def test_type_strings_match_the_deployed_contract_typehashes(
    eth_tester_ledger: LedgerWorld,
) -> None:
    consents = eth_tester_ledger.coordinator.consents
    assert _type_hash("Consent", CONSENT_TYPE) == consents._call("CONSENT_TYPEHASH")
    assert _type_hash("Revocation", REVOCATION_TYPE) == consents._call("REVOCATION_TYPEHASH")
    assert _type_hash("Cancellation", CANCELLATION_TYPE) == consents._call("CANCELLATION_TYPEHASH")
    expected = (
        "Consent(bytes32 study,address patient,address hospital,uint64 expiresAt,uint256 nonce,"
        "uint64 deadline)"
    )
    assert _type_hash("Consent", CONSENT_TYPE) == keccak(text=expected)
