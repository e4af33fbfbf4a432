"""EIP-712 typed data for patient consent and revocation, matching ConsentRegistry's typehashes.

Patients sign with their own key; the contract recovers the signer. The struct definitions below
MUST stay identical to the contract's `CONSENT_TYPEHASH` / `REVOCATION_TYPEHASH` /
`CANCELLATION_TYPEHASH` (a unit test compares the type hashes with the compiled contract).
A `Consent` carries the patient's grant nonce in the study (`grantNonce(study, patient)`) and a
`deadline` after which no hospital can submit it; `Revocation` and `Cancellation` (of pending
consent signatures) carry the patient's own nonce in the study (`revocationNonce`), which no
hospital can consume.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from eth_account import Account
from eth_account.messages import SignableMessage, encode_typed_data
from eth_keys.exceptions import BadSignature
from eth_utils.address import to_checksum_address
from eth_utils.exceptions import ValidationError

from consent.errors import ConsentError
from consent.ids import Address, StudyId

__all__ = [
    "CANCELLATION_TYPE",
    "CONSENT_REGISTRY_NAME",
    "CONSENT_REGISTRY_VERSION",
    "CONSENT_TYPE",
    "REVOCATION_TYPE",
    "Eip712Domain",
    "InvalidSignatureError",
    "consent_registry_domain",
    "recover_cancellation_signer",
    "recover_consent_signer",
    "recover_revocation_signer",
    "sign_cancellation",
    "sign_consent",
    "sign_revocation",
]

CONSENT_REGISTRY_NAME: Final = "consentfl ConsentRegistry"
CONSENT_REGISTRY_VERSION: Final = "1"

CONSENT_TYPE: Final = (
    ("study", "bytes32"),
    ("patient", "address"),
    ("hospital", "address"),
    ("expiresAt", "uint64"),
    ("nonce", "uint256"),
    ("deadline", "uint64"),
)
REVOCATION_TYPE: Final = (
    ("study", "bytes32"),
    ("patient", "address"),
    ("nonce", "uint256"),
    ("deadline", "uint64"),
)
CANCELLATION_TYPE: Final = REVOCATION_TYPE
"""`Cancellation(study, patient, nonce, deadline)`: a revocation's fields, another type."""
_DOMAIN_TYPE: Final = (
    ("name", "string"),
    ("version", "string"),
    ("chainId", "uint256"),
    ("verifyingContract", "address"),
)
_UINT64_MAX: Final = 2**64 - 1


class InvalidSignatureError(ConsentError, ValueError):
    """A signature that is malformed or does not recover to an address."""


@dataclass(frozen=True, slots=True)
class Eip712Domain:
    """The EIP-712 domain a signature is bound to (chain and contract)."""

    name: str
    version: str
    chain_id: int
    verifying_contract: Address

    def as_dict(self) -> dict[str, Any]:
        """The domain as EIP-712 JSON."""
        return {
            "name": self.name,
            "version": self.version,
            "chainId": self.chain_id,
            "verifyingContract": self.verifying_contract,
        }


def consent_registry_domain(chain_id: int, verifying_contract: Address) -> Eip712Domain:
    """The domain of a ConsentRegistry deployed at `verifying_contract` on `chain_id`."""
    return Eip712Domain(
        CONSENT_REGISTRY_NAME, CONSENT_REGISTRY_VERSION, chain_id, verifying_contract
    )


def _fields(spec: tuple[tuple[str, str], ...]) -> list[dict[str, str]]:
    return [{"name": name, "type": type_} for name, type_ in spec]


def _check_uint64(name: str, value: int) -> None:
    if not 0 <= value <= _UINT64_MAX:
        raise ValueError(f"{name} must fit in uint64, got {value}")


def _message(
    domain: Eip712Domain, primary: str, spec: tuple[tuple[str, str], ...], body: dict[str, Any]
) -> SignableMessage:
    return encode_typed_data(
        full_message={
            "types": {"EIP712Domain": _fields(_DOMAIN_TYPE), primary: _fields(spec)},
            "primaryType": primary,
            "domain": domain.as_dict(),
            "message": body,
        }
    )


def _consent_message(
    domain: Eip712Domain,
    study: StudyId,
    patient: Address,
    hospital: Address,
    expires_at: int,
    nonce: int,
    deadline: int,
) -> SignableMessage:
    _check_uint64("expires_at", expires_at)
    _check_uint64("deadline", deadline)
    body = {
        "study": bytes(study),
        "patient": to_checksum_address(patient),
        "hospital": to_checksum_address(hospital),
        "expiresAt": expires_at,
        "nonce": nonce,
        "deadline": deadline,
    }
    return _message(domain, "Consent", CONSENT_TYPE, body)


def _revocation_message(
    domain: Eip712Domain,
    study: StudyId,
    patient: Address,
    nonce: int,
    deadline: int,
    primary: str = "Revocation",
) -> SignableMessage:
    _check_uint64("deadline", deadline)
    body = {
        "study": bytes(study),
        "patient": to_checksum_address(patient),
        "nonce": nonce,
        "deadline": deadline,
    }
    return _message(domain, primary, REVOCATION_TYPE, body)


def _sign(private_key: bytes | str, message: SignableMessage) -> bytes:
    return bytes(Account.sign_message(message, private_key).signature)


def _recover(message: SignableMessage, signature: bytes) -> Address:
    try:
        return Address(to_checksum_address(Account.recover_message(message, signature=signature)))
    except (BadSignature, ValidationError, ValueError) as exc:
        raise InvalidSignatureError(f"signature does not recover: {exc}") from exc


def sign_consent(
    private_key: bytes | str,
    domain: Eip712Domain,
    study: StudyId,
    patient: Address,
    hospital: Address,
    expires_at: int,
    nonce: int,
    deadline: int,
) -> bytes:
    """The patient's 65-byte signature of
    `Consent(study, patient, hospital, expiresAt, nonce, deadline)`."""
    message = _consent_message(domain, study, patient, hospital, expires_at, nonce, deadline)
    return _sign(private_key, message)


def sign_revocation(
    private_key: bytes | str,
    domain: Eip712Domain,
    study: StudyId,
    patient: Address,
    nonce: int,
    deadline: int,
) -> bytes:
    """The patient's 65-byte signature of `Revocation(study, patient, nonce, deadline)`."""
    return _sign(private_key, _revocation_message(domain, study, patient, nonce, deadline))


def sign_cancellation(
    private_key: bytes | str,
    domain: Eip712Domain,
    study: StudyId,
    patient: Address,
    nonce: int,
    deadline: int,
) -> bytes:
    """The patient's signature of `Cancellation(study, patient, nonce, deadline)`: every consent
    signature for `study` not yet submitted becomes unusable."""
    message = _revocation_message(domain, study, patient, nonce, deadline, "Cancellation")
    return _sign(private_key, message)


def recover_consent_signer(
    domain: Eip712Domain,
    study: StudyId,
    patient: Address,
    hospital: Address,
    expires_at: int,
    nonce: int,
    deadline: int,
    signature: bytes,
) -> Address:
    """The address that signed this consent (compare it with `patient`)."""
    message = _consent_message(domain, study, patient, hospital, expires_at, nonce, deadline)
    return _recover(message, signature)


def recover_revocation_signer(
    domain: Eip712Domain,
    study: StudyId,
    patient: Address,
    nonce: int,
    deadline: int,
    signature: bytes,
) -> Address:
    """The address that signed this revocation (compare it with `patient`)."""
    return _recover(_revocation_message(domain, study, patient, nonce, deadline), signature)


def recover_cancellation_signer(
    domain: Eip712Domain,
    study: StudyId,
    patient: Address,
    nonce: int,
    deadline: int,
    signature: bytes,
) -> Address:
    """The address that signed this cancellation (compare it with `patient`)."""
    message = _revocation_message(domain, study, patient, nonce, deadline, "Cancellation")
    return _recover(message, signature)
