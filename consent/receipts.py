"""Consent receipts: a signed record of one grant or revocation that the patient keeps.

Every grant and every revocation yields a receipt. Its shape follows the Kantara Initiative
Consent Receipt Specification v1.1 (`version`, `jurisdiction`, `consentTimestamp`,
`collectionMethod`, `consentReceiptID`, `piiPrincipalId`, `piiControllers`, `services` with
`purposes`, `sensitive`, `spiCat`) with the record fields of ISO/IEC TS 27560 (`recordId`,
`event`: what happened, when, by which means), and adds what the chain proves: the transaction
hash, block, log index, chain id and registry address (`chain`). The receipt is signed by the
party that sent the transaction (the hospital for a grant, the relayer for a relayed
revocation) with an EIP-191 `personal_sign` signature over the canonical JSON of every field
except `proof` (keys sorted, no whitespace), through eth-account: any Ethereum library can check
it, and `verify_receipt` does so offline.

A receipt proves that its signer stated these facts; anyone holding it can also look the
transaction up on chain (`chain.txHash`) to confirm them without trusting the signer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from eth_account import Account
from eth_account.messages import SignableMessage, encode_defunct
from eth_utils.address import is_checksum_address

from consent.eip712 import Eip712Domain
from consent.errors import ConsentError
from consent.events import ConsentEvent, ConsentGranted
from consent.ids import Address

__all__ = [
    "RECEIPT_FORMAT",
    "ReceiptError",
    "ReceiptFormatError",
    "ReceiptSignerMismatchError",
    "ReceiptTamperedError",
    "VerifiedReceipt",
    "build_receipt",
    "receipt_message",
    "verify_receipt",
]

RECEIPT_FORMAT: Final = "consentfl.consent-receipt/1"
KANTARA_VERSION: Final = "KI-CR-v1.1.0"
PURPOSE: Final = "Training of a federated model by the study's hospitals, without moving data"
_PROOF_TYPE: Final = "EIP-191 personal_sign over the canonical JSON of the receipt without proof"
_TX_HASH_LEN: Final = 66
_REQUIRED_EVENT: Final = (
    "type",
    "study",
    "patient",
    "hospital",
    "txHash",
    "blockNumber",
    "logIndex",
    "blockTimestamp",
)

Signer = Callable[[SignableMessage], bytes]
"""Signs an EIP-191 message and returns the 65-byte signature (e.g. `Sender.sign_message`)."""


class ReceiptError(ConsentError, ValueError):
    """A consent receipt that does not verify."""


class ReceiptFormatError(ReceiptError):
    """A receipt that is not valid JSON of the receipt format (a field missing or malformed)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"receipt field {field!r}: {reason}")
        self.field = field
        self.reason = reason


class ReceiptTamperedError(ReceiptError):
    """The signature does not recover to the receipt's issuer: a field was changed after
    signing, or the signature is not the issuer's."""

    def __init__(self, issuer: str, recovered: str | None) -> None:
        found = "does not recover" if recovered is None else f"recovers to {recovered}"
        super().__init__(f"receipt signature {found}, not to its issuer {issuer}: tampered")
        self.issuer = issuer
        self.recovered = recovered


class ReceiptSignerMismatchError(ReceiptError):
    """The receipt verifies, but its issuer is not the signer the caller expected."""

    def __init__(self, issuer: str, expected: str) -> None:
        super().__init__(f"receipt issued by {issuer}, expected {expected}")
        self.issuer = issuer
        self.expected = expected


@dataclass(frozen=True, slots=True)
class VerifiedReceipt:
    """What a receipt that verified states."""

    kind: str
    study: str
    patient: Address
    hospital: Address
    issuer: Address
    tx_hash: str
    block_number: int
    block_timestamp: int


def _iso(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _canonical(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def receipt_message(receipt: Mapping[str, Any]) -> SignableMessage:
    """The EIP-191 message a receipt's `proof.signature` signs (every field but `proof`)."""
    return encode_defunct(primitive=_canonical({k: v for k, v in receipt.items() if k != "proof"}))


def _body(event: ConsentEvent, domain: Eip712Domain, issuer: Address, issued_at: int) -> Any:
    granted = isinstance(event, ConsentGranted)
    study = "0x" + bytes(event.study).hex()
    position = event.position
    termination = "revoked at any time by the patient's signed revocation"
    if isinstance(event, ConsentGranted) and event.expires_at:
        termination += f"; expires {_iso(event.expires_at)}"
    chain_ref = (
        f"{domain.chain_id}:{domain.verifying_contract}:{event.tx_hash}:{position.log_index}"
    )
    return {
        "format": RECEIPT_FORMAT,
        "version": KANTARA_VERSION,
        "jurisdiction": "set by the study protocol",
        "consentTimestamp": event.block_timestamp,
        "collectionMethod": (
            "EIP-712 Consent signed by the patient, submitted by the hospital"
            if granted
            else "EIP-712 Revocation signed by the patient, relayed to the chain"
        ),
        "consentReceiptID": f"urn:consentfl:receipt:{chain_ref}",
        "recordId": f"urn:consentfl:record:{domain.chain_id}:{study}:{event.patient}",
        "piiPrincipalId": event.patient,
        "piiControllers": [{"piiController": event.hospital, "role": "hospital"}],
        "services": [
            {
                "service": study,
                "purposes": [
                    {
                        "purpose": PURPOSE,
                        "consentType": "EXPLICIT",
                        "purposeCategory": ["research"],
                        "primaryPurpose": True,
                        "termination": termination,
                        "thirdPartyDisclosure": False,
                    }
                ],
            }
        ],
        "sensitive": True,
        "spiCat": ["health"],
        "event": {
            "type": "granted" if granted else "revoked",
            "study": study,
            "patient": event.patient,
            "hospital": event.hospital,
            "expiresAt": event.expires_at if isinstance(event, ConsentGranted) else None,
            "txHash": event.tx_hash,
            "blockNumber": position.block_number,
            "logIndex": position.log_index,
            "blockTimestamp": event.block_timestamp,
            "time": _iso(event.block_timestamp),
        },
        "chain": {"chainId": domain.chain_id, "registry": domain.verifying_contract},
        "issuer": issuer,
        "issuedAt": _iso(issued_at),
    }


def build_receipt(
    event: ConsentEvent,
    domain: Eip712Domain,
    *,
    issuer: Address,
    sign: Signer,
    issued_at: int,
) -> dict[str, Any]:
    """The signed receipt of `event` (a grant or a revocation) on the registry of `domain`.

    `sign` must sign with `issuer`'s key (the sender of the transaction); `issued_at` is unix time.
    """
    body = _body(event, domain, issuer, issued_at)
    signature = sign(receipt_message(body))
    return {**body, "proof": {"type": _PROOF_TYPE, "signature": "0x" + signature.hex()}}


def _require(mapping: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    value = mapping.get(key)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise ReceiptFormatError(f"{where}{key}", f"missing or not {kind.__name__}")
    return value


def _address(mapping: Mapping[str, Any], key: str, where: str = "") -> Address:
    value = _require(mapping, key, str, where)
    if not is_checksum_address(value):
        raise ReceiptFormatError(f"{where}{key}", "not a checksummed address")
    return Address(value)


def _check_fields(receipt: Mapping[str, Any]) -> VerifiedReceipt:
    if receipt.get("format") != RECEIPT_FORMAT:
        raise ReceiptFormatError("format", f"expected {RECEIPT_FORMAT!r}")
    event = _require(receipt, "event", dict, "")
    for key in _REQUIRED_EVENT:
        if key not in event:
            raise ReceiptFormatError(f"event.{key}", "missing")
    kind = _require(event, "type", str, "event.")
    if kind not in ("granted", "revoked"):
        raise ReceiptFormatError("event.type", "neither 'granted' nor 'revoked'")
    tx_hash = _require(event, "txHash", str, "event.")
    if len(tx_hash) != _TX_HASH_LEN or not tx_hash.startswith("0x"):
        raise ReceiptFormatError("event.txHash", "not a 32-byte 0x hex hash")
    patient = _address(event, "patient", "event.")
    if receipt.get("piiPrincipalId") != patient:
        raise ReceiptFormatError("piiPrincipalId", "differs from event.patient")
    study = _require(event, "study", str, "event.")
    services = _require(receipt, "services", list, "")
    if not services or not isinstance(services[0], dict) or services[0].get("service") != study:
        raise ReceiptFormatError("services", "the service is not the event's study")
    if receipt.get("consentTimestamp") != event["blockTimestamp"]:
        raise ReceiptFormatError("consentTimestamp", "differs from event.blockTimestamp")
    return VerifiedReceipt(
        kind=kind,
        study=study,
        patient=patient,
        hospital=_address(event, "hospital", "event."),
        issuer=_address(receipt, "issuer"),
        tx_hash=tx_hash,
        block_number=_require(event, "blockNumber", int, "event."),
        block_timestamp=_require(event, "blockTimestamp", int, "event."),
    )


def verify_receipt(receipt: Any, *, expected_signer: str | None = None) -> VerifiedReceipt:
    """Check a receipt offline: its fields, and that `proof.signature` recovers to `issuer`
    (and, if given, that the issuer is `expected_signer`).

    Raises `ReceiptFormatError`, `ReceiptTamperedError` or `ReceiptSignerMismatchError`.
    """
    if not isinstance(receipt, dict):
        raise ReceiptFormatError("(root)", "not a JSON object")
    verified = _check_fields(receipt)
    proof = _require(receipt, "proof", dict, "")
    signature = _require(proof, "signature", str, "proof.")
    try:
        raw = bytes.fromhex(signature.removeprefix("0x"))
        recovered: str | None = Account.recover_message(receipt_message(receipt), signature=raw)
    except (ValueError, TypeError):  # eth-keys' BadSignature is a ValueError
        recovered = None
    if recovered != verified.issuer:
        raise ReceiptTamperedError(verified.issuer, recovered)
    if expected_signer is not None and expected_signer.lower() != verified.issuer.lower():
        raise ReceiptSignerMismatchError(verified.issuer, expected_signer)
    return verified
