"""Updates sealed to several recipients at once: the aggregator and the study's auditors.

One payload, one ciphertext, one content key; the content key is sealed to each recipient with
the single-recipient construction of `consent.sealing` (X25519 + HKDF-SHA256 + AES-256-GCM), so
no new primitive is introduced. Everything is from `cryptography`; only the framing (one
ciphertext, one wrapped key per recipient) is hand-written: `cryptography`'s HPKE is
single-recipient as well, and wrapping with `consent.sealing` keeps one key-agreement
construction (and one key format) in the project; age/JWE would add a dependency for the same.

Envelope v1 (all fixed sizes but the ciphertext)::

    magic b"CFLM" | version 0x01 | n (1 byte, 1..32)
    | n x (recipient public key (32) | content key sealed to it (97))
    | key commitment SHA-256(b"consentfl/content-key/v1" | content key) (32)
    | nonce (12) | AES-256-GCM(content key, payload, associated data = everything before) + tag

Why the commitment: AES-GCM is not key-committing, so a sender could seal two different content
keys to the aggregator and the auditor under which one ciphertext opens to two different
payloads ("invisible salamanders"). Every opener checks the commitment against the key it
unwrapped, so all recipients who open the envelope get the same key, hence the same payload, and
what the auditor reads is what the aggregator combined.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Sequence
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from consent.sealing import (
    ENVELOPE_OVERHEAD,
    MalformedEnvelopeError,
    SealingError,
    TamperedEnvelopeError,
    load_public_key,
    open_sealed,
    public_key_bytes,
    seal,
)

__all__ = ["MAGIC", "MAX_RECIPIENTS", "NotARecipientError", "open_multi", "seal_multi"]

MAGIC: Final = b"CFLM"
VERSION: Final = 1
MAX_RECIPIENTS: Final = 32
_KEY_LEN: Final = 32
_NONCE_LEN: Final = 12
_WRAPPED_LEN: Final = _KEY_LEN + ENVELOPE_OVERHEAD
_SLOT_LEN: Final = _KEY_LEN + _WRAPPED_LEN
_COMMIT_LABEL: Final = b"consentfl/content-key/v1"


class NotARecipientError(TamperedEnvelopeError):
    """The envelope holds no content key sealed to this private key's public key."""


def _commitment(content_key: bytes) -> bytes:
    return hashlib.sha256(_COMMIT_LABEL + content_key).digest()


def seal_multi(data: bytes, recipients: Sequence[bytes]) -> bytes:
    """Encrypt `data` once so that each recipient's private key opens it (raw 32-byte keys)."""
    keys = [bytes(public_key_bytes(load_public_key(r))) for r in recipients]
    if not 1 <= len(keys) <= MAX_RECIPIENTS:
        raise SealingError(f"between 1 and {MAX_RECIPIENTS} recipients, got {len(keys)}")
    if len(set(keys)) != len(keys):
        raise SealingError("a recipient key is listed twice")
    content_key = AESGCM.generate_key(bit_length=256)
    slots = b"".join(key + seal(content_key, key) for key in keys)
    nonce = os.urandom(_NONCE_LEN)
    header = MAGIC + bytes((VERSION, len(keys))) + slots + _commitment(content_key) + nonce
    return header + AESGCM(content_key).encrypt(nonce, data, header)


def open_multi(sealed: bytes, private_key: X25519PrivateKey) -> bytes:
    """The payload, authenticated, if `private_key` is one of the envelope's recipients.

    Raises `MalformedEnvelopeError` for bytes of another shape, `NotARecipientError` when no
    slot names this key, `TamperedEnvelopeError` when anything fails to authenticate.
    """
    if sealed[: len(MAGIC)] != MAGIC or len(sealed) < len(MAGIC) + 2:
        raise MalformedEnvelopeError("not a multi-recipient envelope")
    version, count = sealed[len(MAGIC)], sealed[len(MAGIC) + 1]
    if version != VERSION:
        raise MalformedEnvelopeError(f"unsupported version {version}", version=version)
    if not 1 <= count <= MAX_RECIPIENTS:
        raise MalformedEnvelopeError(f"{count} recipients")
    start = len(MAGIC) + 2
    header_len = start + count * _SLOT_LEN + _KEY_LEN + _NONCE_LEN
    if len(sealed) < header_len + 16:
        raise MalformedEnvelopeError(f"{len(sealed)} bytes is shorter than its header")
    mine = bytes(public_key_bytes(private_key))
    for i in range(count):
        slot = sealed[start + i * _SLOT_LEN : start + (i + 1) * _SLOT_LEN]
        if slot[:_KEY_LEN] == mine:
            content_key = open_sealed(slot[_KEY_LEN:], private_key)
            break
    else:
        raise NotARecipientError("the envelope is not sealed to this key")
    header = sealed[:header_len]
    commitment = header[-(_KEY_LEN + _NONCE_LEN) : -_NONCE_LEN]
    if len(content_key) != _KEY_LEN or not hmac.compare_digest(
        commitment, _commitment(content_key)
    ):
        raise TamperedEnvelopeError("the content key does not match the envelope's commitment")
    try:
        return AESGCM(content_key).decrypt(header[-_NONCE_LEN:], sealed[header_len:], header)
    except InvalidTag as exc:
        raise TamperedEnvelopeError("authentication failed: the envelope was modified") from exc
