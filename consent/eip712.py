"""EIP-712 typed data for patient consent and revocation, matching ConsentRegistry's typehashes.

Patients sign with their own key; the contract recovers the signer. The struct definitions below
MUST stay identical to the contract's `CONSENT_TYPEHASH` / `REVOCATION_TYPEHASH` /
`CANCELLATION_TYPEHASH` / `PURPOSE_REVOCATION_TYPEHASH` (a unit test compares the type hashes
with the compiled contract). A `Consent` names its DUO purposes (`consent.purposes` mask) and its
validity period (`validFrom` .. `expiresAt`, unix seconds, 0 = open); a `PurposeRevocation`
withdraws some purposes and keeps the rest.
A `Consent` carries the patient's grant nonce in the study (`grantNonce(study, patient)`) and a
`deadline` after which no hospital can submit it; `Revocation` and `Cancellation` (of pending
consent signatures) carry the patient's own nonce in the study (`revocationNonce`), which no
hospital can consume.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from coincurve import PrivateKey, PublicKey
from eth_abi.abi import encode
from eth_utils.address import to_checksum_address

from consent.eip712_encoding import checksum_address, encode_words
from consent.errors import ConsentError
from consent.ids import Address, StudyId
from consent.keccak import keccak256 as keccak
from consent.purposes import GENERAL_RESEARCH, ConsentScope

__all__ = [
    "CANCELLATION_TYPE",
    "CONSENT_REGISTRY_NAME",
    "CONSENT_REGISTRY_VERSION",
    "CONSENT_TYPE",
    "PURPOSE_REVOCATION_TYPE",
    "REVOCATION_TYPE",
    "Eip712Domain",
    "InvalidSignatureError",
    "consent_registry_domain",
    "recover_cancellation_signer",
    "recover_consent_signer",
    "recover_purpose_revocation_signer",
    "recover_revocation_signer",
    "sign_cancellation",
    "sign_consent",
    "sign_purpose_revocation",
    "sign_revocation",
]

CONSENT_REGISTRY_NAME: Final = "consentfl ConsentRegistry"
CONSENT_REGISTRY_VERSION: Final = "1"

CONSENT_TYPE: Final = (
    ("study", "bytes32"),
    ("patient", "address"),
    ("hospital", "address"),
    ("purposes", "uint64"),
    ("validFrom", "uint64"),
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
PURPOSE_REVOCATION_TYPE: Final = (
    ("study", "bytes32"),
    ("patient", "address"),
    ("purposes", "uint64"),
    ("nonce", "uint256"),
    ("deadline", "uint64"),
)
"""`PurposeRevocation`: withdraws the DUO `purposes` (a mask) and keeps the rest of the consent;
the nonce is the patient's revocation nonce."""
CANCELLATION_TYPE: Final = REVOCATION_TYPE
"""`Cancellation(study, patient, nonce, deadline)`: a revocation's fields, another type."""
_DOMAIN_TYPE: Final = (
    ("name", "string"),
    ("version", "string"),
    ("chainId", "uint256"),
    ("verifyingContract", "address"),
)
_UINT64_MAX: Final = 2**64 - 1
_SECP256K1_N: Final = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


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


def _check_uint64(name: str, value: int) -> None:
    if not 0 <= value <= _UINT64_MAX:
        raise ValueError(f"{name} must fit in uint64, got {value}")


# Hand-written EIP-712 hashing rather than eth_account's `encode_typed_data`: that generic path
# re-parses the JSON types, re-derives the type and domain hashes and checksums every address on
# each call (~50 keccaks and ~1 ms of CPU per relayed revocation, the relay's largest cost).
# Every type here is flat (atomic fields only), so `encodeType` is `Name(type name,...)` and
# `hashStruct` is keccak(typeHash || abi.encode(fields)) (EIP-712, "Definition of hashStruct");
# the domain separator is a constant per deployment, cached. `eip712_encoding` the encoding and
# coincurve (libsecp256k1, eth_keys' own backend) the signing and recovery; the unit test
# `test_eip712_digest.py` checks digests, signatures and signers against eth_account's path.
def _type_hash(primary: str, spec: tuple[tuple[str, str], ...]) -> bytes:
    return keccak(f"{primary}({','.join(f'{t} {n}' for n, t in spec)})".encode())


_DOMAIN_TYPEHASH: Final = _type_hash("EIP712Domain", _DOMAIN_TYPE)
_TYPEHASHES: Final = {
    "Consent": _type_hash("Consent", CONSENT_TYPE),
    "Revocation": _type_hash("Revocation", REVOCATION_TYPE),
    "Cancellation": _type_hash("Cancellation", CANCELLATION_TYPE),
    "PurposeRevocation": _type_hash("PurposeRevocation", PURPOSE_REVOCATION_TYPE),
}
_SPECS: Final = {
    "Consent": CONSENT_TYPE,
    "Revocation": REVOCATION_TYPE,
    "Cancellation": CANCELLATION_TYPE,
    "PurposeRevocation": PURPOSE_REVOCATION_TYPE,
}


@functools.lru_cache(maxsize=64)
def domain_separator(domain: Eip712Domain) -> bytes:
    """`hashStruct(EIP712Domain)` of `domain` (the contract's `_domainSeparatorV4()`)."""
    return keccak(
        _DOMAIN_TYPEHASH
        + encode(
            ["bytes32", "bytes32", "uint256", "address"],
            [
                keccak(domain.name.encode()),
                keccak(domain.version.encode()),
                domain.chain_id,
                to_checksum_address(domain.verifying_contract),
            ],
        )
    )


def typed_digest(domain: Eip712Domain, primary: str, values: Sequence[Any]) -> bytes:
    """The 32-byte EIP-712 digest `keccak(0x1901 || domainSeparator || hashStruct(message))` of
    the `primary` type's fields `values` (in the order of its `*_TYPE` spec)."""
    spec = _SPECS[primary]
    struct = keccak(_TYPEHASHES[primary] + encode_words([t for _, t in spec], values))
    return keccak(b"\x19\x01" + domain_separator(domain) + struct)


def _address_bytes(address: str) -> bytes:
    """The 20 bytes of a hex address, any case (what `to_checksum_address` accepted before,
    without its keccak: the digest encodes bytes, not the checksum)."""
    digits = address[2:] if address[:2] in ("0x", "0X") else address
    if len(digits) != 40:
        raise ValueError(f"not a 20-byte hex address: {address!r}")
    return bytes.fromhex(digits)


def _consent_digest(
    domain: Eip712Domain,
    study: StudyId,
    patient: Address,
    hospital: Address,
    expires_at: int,
    nonce: int,
    deadline: int,
    scope: ConsentScope,
    valid_from: int,
) -> bytes:
    _check_uint64("expires_at", expires_at)
    _check_uint64("valid_from", valid_from)
    _check_uint64("deadline", deadline)
    values = (
        bytes(study),
        _address_bytes(patient),
        _address_bytes(hospital),
        scope.mask,
        valid_from,
        expires_at,
        nonce,
        deadline,
    )
    return typed_digest(domain, "Consent", values)


def _revocation_digest(
    domain: Eip712Domain,
    study: StudyId,
    patient: Address,
    nonce: int,
    deadline: int,
    primary: str = "Revocation",
) -> bytes:
    _check_uint64("deadline", deadline)
    return typed_digest(domain, primary, (bytes(study), _address_bytes(patient), nonce, deadline))


def _purpose_revocation_digest(
    domain: Eip712Domain,
    study: StudyId,
    patient: Address,
    purposes: int,
    nonce: int,
    deadline: int,
) -> bytes:
    _check_uint64("purposes", purposes)
    _check_uint64("deadline", deadline)
    values = (bytes(study), _address_bytes(patient), purposes, nonce, deadline)
    return typed_digest(domain, "PurposeRevocation", values)


def _sign(private_key: bytes | str, digest: bytes) -> bytes:
    """r || s || v (v = 27 + recovery id), as eth_account signs (RFC 6979, low s)."""
    key = (
        bytes.fromhex(private_key.removeprefix("0x"))
        if isinstance(private_key, str)
        else private_key
    )
    signed = PrivateKey(bytes(key)).sign_recoverable(digest, hasher=None)
    return signed[:64] + bytes([27 + signed[64]])


def _recovery_id(v: int) -> int:
    """eth_account's reading of `v`: 0/1, 27/28, or EIP-155's 35 + 2 * chain id + {0, 1}."""
    if v in (0, 1):
        return v
    if v in (27, 28):
        return v - 27
    if v >= 35:
        return (v - 35) % 2
    raise InvalidSignatureError(f"signature does not recover: v {v} is not a recovery id")


def _recover(digest: bytes, signature: bytes) -> Address:
    if len(signature) != 65:
        raise InvalidSignatureError(f"signature does not recover: {len(signature)} bytes, not 65")
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big")
    if not (0 < r < _SECP256K1_N and 0 < s < _SECP256K1_N):
        raise InvalidSignatureError("signature does not recover: r or s out of range")
    compact = signature[:64] + bytes([_recovery_id(signature[64])])
    try:
        public = PublicKey.from_signature_and_message(compact, digest, hasher=None)
    except (ValueError, TypeError) as exc:
        raise InvalidSignatureError(f"signature does not recover: {exc}") from exc
    return checksum_address(keccak(public.format(compressed=False)[1:])[12:])


def sign_consent(
    private_key: bytes | str,
    domain: Eip712Domain,
    study: StudyId,
    patient: Address,
    hospital: Address,
    expires_at: int,
    nonce: int,
    deadline: int,
    *,
    scope: ConsentScope = GENERAL_RESEARCH,
    valid_from: int = 0,
) -> bytes:
    """The patient's 65-byte signature of `Consent(study, patient, hospital, purposes,
    validFrom, expiresAt, nonce, deadline)` (purposes: `scope.mask`)."""
    digest = _consent_digest(
        domain, study, patient, hospital, expires_at, nonce, deadline, scope, valid_from
    )
    return _sign(private_key, digest)


def sign_purpose_revocation(
    private_key: bytes | str,
    domain: Eip712Domain,
    study: StudyId,
    patient: Address,
    purposes: int,
    nonce: int,
    deadline: int,
) -> bytes:
    """The patient's signature of `PurposeRevocation(study, patient, purposes, nonce,
    deadline)`: withdraws the DUO `purposes` mask from their consent."""
    digest = _purpose_revocation_digest(domain, study, patient, purposes, nonce, deadline)
    return _sign(private_key, digest)


def sign_revocation(
    private_key: bytes | str,
    domain: Eip712Domain,
    study: StudyId,
    patient: Address,
    nonce: int,
    deadline: int,
) -> bytes:
    """The patient's 65-byte signature of `Revocation(study, patient, nonce, deadline)`."""
    return _sign(private_key, _revocation_digest(domain, study, patient, nonce, deadline))


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
    digest = _revocation_digest(domain, study, patient, nonce, deadline, "Cancellation")
    return _sign(private_key, digest)


def recover_consent_signer(
    domain: Eip712Domain,
    study: StudyId,
    patient: Address,
    hospital: Address,
    expires_at: int,
    nonce: int,
    deadline: int,
    signature: bytes,
    *,
    scope: ConsentScope = GENERAL_RESEARCH,
    valid_from: int = 0,
) -> Address:
    """The address that signed this consent (compare it with `patient`)."""
    digest = _consent_digest(
        domain, study, patient, hospital, expires_at, nonce, deadline, scope, valid_from
    )
    return _recover(digest, signature)


def recover_purpose_revocation_signer(
    domain: Eip712Domain,
    study: StudyId,
    patient: Address,
    purposes: int,
    nonce: int,
    deadline: int,
    signature: bytes,
) -> Address:
    """The address that signed this withdrawal of purposes (compare it with `patient`)."""
    digest = _purpose_revocation_digest(domain, study, patient, purposes, nonce, deadline)
    return _recover(digest, signature)


def recover_revocation_signer(
    domain: Eip712Domain,
    study: StudyId,
    patient: Address,
    nonce: int,
    deadline: int,
    signature: bytes,
) -> Address:
    """The address that signed this revocation (compare it with `patient`)."""
    return _recover(_revocation_digest(domain, study, patient, nonce, deadline), signature)


def recover_cancellation_signer(
    domain: Eip712Domain,
    study: StudyId,
    patient: Address,
    nonce: int,
    deadline: int,
    signature: bytes,
) -> Address:
    """The address that signed this cancellation (compare it with `patient`)."""
    digest = _revocation_digest(domain, study, patient, nonce, deadline, "Cancellation")
    return _recover(digest, signature)
