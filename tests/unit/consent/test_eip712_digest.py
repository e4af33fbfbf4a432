"""The hand-written EIP-712 path (`consent.eip712`) against eth_account's generic one (the oracle):
the same digest, the same signature and the same recovered signer for every signature type."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import SignableMessage, _hash_eip191_message, encode_typed_data
from eth_keys.exceptions import BadSignature
from eth_utils import keccak
from eth_utils.exceptions import ValidationError

from consent.eip712 import (
    CANCELLATION_TYPE,
    CONSENT_TYPE,
    PURPOSE_REVOCATION_TYPE,
    REVOCATION_TYPE,
    Eip712Domain,
    InvalidSignatureError,
    consent_registry_domain,
    domain_separator,
    recover_cancellation_signer,
    recover_consent_signer,
    recover_purpose_revocation_signer,
    recover_revocation_signer,
    sign_cancellation,
    sign_consent,
    sign_purpose_revocation,
    sign_revocation,
    typed_digest,
)
from consent.ids import Address, StudyId, parse_address, study_id
from consent.purposes import ConsentScope

KEYS = [keccak(text=f"eip712 oracle patient {i}") for i in range(4)]
DOMAINS = [
    consent_registry_domain(31337, parse_address("0x" + "cd" * 20)),
    consent_registry_domain(1, parse_address("0x5FbDB2315678afecb367f032d93F642f64180aa3")),
]
STUDIES = [study_id("oracle"), StudyId(bytes(range(32)))]
HOSPITAL = parse_address("0x" + "ab" * 20)
_DOMAIN_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]


def _oracle(domain: Eip712Domain, primary: str, spec: Any, body: dict[str, Any]) -> SignableMessage:
    return encode_typed_data(
        full_message={
            "types": {
                "EIP712Domain": _DOMAIN_FIELDS,
                primary: [{"name": n, "type": t} for n, t in spec],
            },
            "primaryType": primary,
            "domain": domain.as_dict(),
            "message": body,
        }
    )


def _patient(key: bytes) -> Address:
    return parse_address(Account.from_key(key).address)


def _cases() -> list[Any]:
    return [
        pytest.param(k, d, s, id=f"key{i}-chain{d.chain_id}-study{j}")
        for i, k in enumerate(KEYS)
        for d in DOMAINS
        for j, s in enumerate(STUDIES)
    ]


def _same(key: bytes, message: SignableMessage, digest: bytes, signature: bytes) -> None:
    """The digest, the signature and the recovered signer agree with eth_account's."""
    assert digest == _hash_eip191_message(message)
    oracle = Account.sign_message(message, key)
    assert signature == bytes(oracle.signature)
    assert Account.recover_message(message, signature=signature) == Account.from_key(key).address


@pytest.mark.parametrize(("key", "domain", "study"), _cases())
def test_consent_matches_eth_account(key: bytes, domain: Eip712Domain, study: StudyId) -> None:
    patient = _patient(key)
    scope = ConsentScope.parse(["GRU", "HMB"])
    fields = (patient, HOSPITAL, 2**40, 7, 2**41)
    signature = sign_consent(key, domain, study, *fields, scope=scope, valid_from=11)
    body = {
        "study": bytes(study),
        "patient": patient,
        "hospital": HOSPITAL,
        "purposes": scope.mask,
        "validFrom": 11,
        "expiresAt": 2**40,
        "nonce": 7,
        "deadline": 2**41,
    }
    values = (bytes(study), patient, HOSPITAL, scope.mask, 11, 2**40, 7, 2**41)
    digest = typed_digest(domain, "Consent", values)
    _same(key, _oracle(domain, "Consent", CONSENT_TYPE, body), digest, signature)
    recovered = recover_consent_signer(
        domain, study, *fields, signature, scope=scope, valid_from=11
    )
    assert recovered == patient


@pytest.mark.parametrize(("key", "domain", "study"), _cases())
@pytest.mark.parametrize("primary", ["Revocation", "Cancellation"])
def test_revocation_and_cancellation_match_eth_account(
    key: bytes, domain: Eip712Domain, study: StudyId, primary: str
) -> None:
    patient = _patient(key)
    sign, recover = (
        (sign_revocation, recover_revocation_signer)
        if primary == "Revocation"
        else (sign_cancellation, recover_cancellation_signer)
    )
    spec = REVOCATION_TYPE if primary == "Revocation" else CANCELLATION_TYPE
    signature = sign(key, domain, study, patient, 3, 10**10)
    body = {"study": bytes(study), "patient": patient, "nonce": 3, "deadline": 10**10}
    digest = typed_digest(domain, primary, (bytes(study), patient, 3, 10**10))
    _same(key, _oracle(domain, primary, spec, body), digest, signature)
    assert recover(domain, study, patient, 3, 10**10, signature) == patient
    assert recover(domain, study, patient, 4, 10**10, signature) != patient


@pytest.mark.parametrize(("key", "domain", "study"), _cases())
def test_purpose_revocation_matches_eth_account(
    key: bytes, domain: Eip712Domain, study: StudyId
) -> None:
    patient = _patient(key)
    mask = ConsentScope.parse(["HMB"]).mask
    signature = sign_purpose_revocation(key, domain, study, patient, mask, 0, 99)
    body = {"study": bytes(study), "patient": patient, "purposes": mask, "nonce": 0, "deadline": 99}
    digest = typed_digest(domain, "PurposeRevocation", (bytes(study), patient, mask, 0, 99))
    oracle = _oracle(domain, "PurposeRevocation", PURPOSE_REVOCATION_TYPE, body)
    _same(key, oracle, digest, signature)
    assert recover_purpose_revocation_signer(domain, study, patient, mask, 0, 99, signature) == (
        patient
    )


def test_the_domain_separator_is_eth_account_s() -> None:
    for domain in DOMAINS:
        message = _oracle(
            domain,
            "Revocation",
            REVOCATION_TYPE,
            {
                "study": bytes(STUDIES[0]),
                "patient": HOSPITAL,
                "nonce": 0,
                "deadline": 1,
            },
        )
        assert message.header == domain_separator(domain)


def test_a_hex_string_key_signs_as_its_bytes() -> None:
    domain, study, patient = DOMAINS[0], STUDIES[0], _patient(KEYS[0])
    assert sign_revocation("0x" + KEYS[0].hex(), domain, study, patient, 0, 9) == sign_revocation(
        KEYS[0], domain, study, patient, 0, 9
    )


def test_v_is_read_as_eth_account_reads_it() -> None:
    """0/1 and 27/28 are the same recovery id; any other small v is refused, as eth_account
    refuses it (the contract accepts only 27/28: the relay's checks and the chain decide)."""
    domain, study, patient = DOMAINS[0], STUDIES[0], _patient(KEYS[1])
    signature = sign_revocation(KEYS[1], domain, study, patient, 0, 9)
    low_v = signature[:64] + bytes([signature[64] - 27])
    assert recover_revocation_signer(domain, study, patient, 0, 9, low_v) == patient
    for v in (2, 26, 29, 34):
        with pytest.raises(InvalidSignatureError):
            recover_revocation_signer(domain, study, patient, 0, 9, signature[:64] + bytes([v]))


@pytest.mark.parametrize(
    "signature",
    [
        b"\x01" * 64,
        b"\x00" * 32 + b"\x01" * 32 + b"\x1b",  # r = 0
        b"\x01" * 32 + b"\x00" * 32 + b"\x1b",  # s = 0
        b"\xff" * 64 + b"\x1b",  # r and s past the curve order
    ],
    ids=["64 bytes", "r = 0", "s = 0", "past the order"],
)
def test_a_malformed_signature_is_a_named_error(signature: bytes) -> None:
    with pytest.raises(InvalidSignatureError):
        recover_revocation_signer(DOMAINS[0], STUDIES[0], HOSPITAL, 0, 9, signature)
    with pytest.raises((BadSignature, ValidationError, ValueError)):  # the oracle refuses it too
        Account.recover_message(
            _oracle(
                DOMAINS[0],
                "Revocation",
                REVOCATION_TYPE,
                {
                    "study": bytes(STUDIES[0]),
                    "patient": HOSPITAL,
                    "nonce": 0,
                    "deadline": 9,
                },
            ),
            signature=signature,
        )


def test_a_malformed_address_is_refused() -> None:
    with pytest.raises(ValueError, match="20-byte"):
        sign_revocation(KEYS[0], DOMAINS[0], STUDIES[0], Address("0x1234"), 0, 9)
