"""Sealed updates: a hospital encrypts its update to the aggregator's X25519 public key.

Construction (ECIES-style, all primitives from `cryptography`): a fresh ephemeral X25519 key per
message; the shared secret goes through HKDF-SHA256 whose `info` binds the protocol label, the
ephemeral and the recipient public keys; the payload is AES-256-GCM under that key with the
envelope header as associated data. Any change to any byte, or the wrong private key, fails
authentication and raises `TamperedEnvelopeError`: nothing is returned unauthenticated.

Envelope v1 (all fixed sizes)::

    magic b"CFLS" | version 0x01 | ephemeral public key (32) | nonce (12) | ciphertext | tag (16)

The aggregator's public key is published on chain as the raw 32 bytes (a `bytes32`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from consent.errors import ConsentError
from consent.ids import Bytes32

__all__ = [
    "ENVELOPE_OVERHEAD",
    "InvalidSealingKeyError",
    "MalformedEnvelopeError",
    "SealingError",
    "SealingKeyPair",
    "TamperedEnvelopeError",
    "generate_keypair",
    "load_private_key",
    "load_public_key",
    "open_sealed",
    "private_key_bytes",
    "public_key_bytes",
    "seal",
]

MAGIC: Final = b"CFLS"
VERSION: Final = 1
_KEY_LEN: Final = 32
_NONCE_LEN: Final = 12
_TAG_LEN: Final = 16
_HEADER_LEN: Final = len(MAGIC) + 1 + _KEY_LEN + _NONCE_LEN
ENVELOPE_OVERHEAD: Final = _HEADER_LEN + _TAG_LEN
"""Bytes a sealed envelope adds to its payload."""
_INFO: Final = b"consentfl/sealed-update/v1"
_MAX_PAYLOAD: Final = 2**31 - 1 - _TAG_LEN  # what one AES-GCM call in `cryptography` accepts


class SealingError(ConsentError):
    """Root of sealing errors."""


class InvalidSealingKeyError(SealingError, ValueError):
    """A public or private key that is not 32 bytes, or a public key that yields no secret."""


class MalformedEnvelopeError(SealingError, ValueError):
    """Bytes that are not a sealed envelope: too short, wrong magic, or an unknown `version`."""

    def __init__(self, reason: str, *, version: int | None = None) -> None:
        super().__init__(f"not a sealed envelope: {reason}")
        self.reason = reason
        self.version = version


class TamperedEnvelopeError(SealingError, ValueError):
    """Authentication failed: the envelope was modified, or it was sealed to another key."""


@dataclass(frozen=True, slots=True)
class SealingKeyPair:
    """An X25519 key pair; `public_key` is the raw 32 bytes published on chain."""

    private_key: X25519PrivateKey
    public_key: Bytes32


def generate_keypair() -> SealingKeyPair:
    """A fresh X25519 key pair."""
    private_key = X25519PrivateKey.generate()
    return SealingKeyPair(private_key, public_key_bytes(private_key))


def public_key_bytes(key: X25519PrivateKey | X25519PublicKey) -> Bytes32:
    """The raw 32-byte public key (of a private key's public half)."""
    public = key.public_key() if isinstance(key, X25519PrivateKey) else key
    return Bytes32(public.public_bytes(Encoding.Raw, PublicFormat.Raw))


def load_public_key(raw: bytes) -> X25519PublicKey:
    """An X25519 public key from its raw 32 bytes (as stored on chain)."""
    if len(raw) != _KEY_LEN:
        raise InvalidSealingKeyError(f"an X25519 public key is 32 bytes, got {len(raw)}")
    return X25519PublicKey.from_public_bytes(bytes(raw))


def private_key_bytes(key: X25519PrivateKey) -> bytes:
    """The raw 32-byte private key, for a key file the caller protects."""
    return key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def load_private_key(raw: bytes) -> X25519PrivateKey:
    """An X25519 private key from its raw 32 bytes."""
    if len(raw) != _KEY_LEN:
        raise InvalidSealingKeyError(f"an X25519 private key is 32 bytes, got {len(raw)}")
    return X25519PrivateKey.from_private_bytes(bytes(raw))


def _derive(
    private_key: X25519PrivateKey, peer: X25519PublicKey, ephemeral: bytes, recipient: bytes
) -> AESGCM:
    try:
        shared = private_key.exchange(peer)
    except ValueError as exc:  # a low-order point gives the all-zero secret
        raise InvalidSealingKeyError("public key yields no shared secret") from exc
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO + ephemeral + recipient)
    return AESGCM(hkdf.derive(shared))


def seal(data: bytes, recipient_public_key: X25519PublicKey | bytes) -> bytes:
    """Encrypt and authenticate `data` so that only the recipient's private key opens it."""
    recipient = (
        recipient_public_key
        if isinstance(recipient_public_key, X25519PublicKey)
        else load_public_key(recipient_public_key)
    )
    if len(data) > _MAX_PAYLOAD:
        raise SealingError(f"payload of {len(data)} bytes exceeds {_MAX_PAYLOAD}")
    ephemeral = X25519PrivateKey.generate()
    ephemeral_raw = public_key_bytes(ephemeral)
    aead = _derive(ephemeral, recipient, ephemeral_raw, public_key_bytes(recipient))
    nonce = os.urandom(_NONCE_LEN)
    header = MAGIC + bytes((VERSION,)) + ephemeral_raw + nonce
    return header + aead.encrypt(nonce, data, header)


def open_sealed(sealed: bytes, private_key: X25519PrivateKey) -> bytes:
    """The payload of an envelope sealed to `private_key`'s public key, authenticated."""
    if len(sealed) < ENVELOPE_OVERHEAD:
        raise MalformedEnvelopeError(f"{len(sealed)} bytes is shorter than any envelope")
    if sealed[: len(MAGIC)] != MAGIC:
        raise MalformedEnvelopeError("wrong magic")
    version = sealed[len(MAGIC)]
    if version != VERSION:
        raise MalformedEnvelopeError(f"unsupported version {version}", version=version)
    header = sealed[:_HEADER_LEN]
    ephemeral_raw = header[len(MAGIC) + 1 : len(MAGIC) + 1 + _KEY_LEN]
    nonce = header[-_NONCE_LEN:]
    try:
        aead = _derive(
            private_key,
            X25519PublicKey.from_public_bytes(ephemeral_raw),
            ephemeral_raw,
            public_key_bytes(private_key),
        )
    except InvalidSealingKeyError as exc:
        raise TamperedEnvelopeError("ephemeral key in the envelope is invalid") from exc
    try:
        # a view, not a slice: the ciphertext (the whole artifact) is not copied first
        return aead.decrypt(nonce, memoryview(sealed)[_HEADER_LEN:], header)
    except InvalidTag as exc:
        raise TamperedEnvelopeError(
            "authentication failed: the envelope was modified or sealed to another key"
        ) from exc
