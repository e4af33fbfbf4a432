"""Mask seeds and their expansion into ring vectors.

- Pairwise seed of hospitals `a` and `b` for one round: X25519(sk_a, pk_b) (= X25519(sk_b, pk_a))
  through HKDF-SHA256 whose `info` binds the label, the study, the round and both addresses in
  sorted order, so a seed is never reused across rounds or studies.
- Self-mask: a fresh 32-byte seed per hospital and round, through HKDF with its own label.
- Expansion: the ChaCha20 keystream (`cryptography`, RFC 7539 with a zero 16-byte counter/nonce:
  every key is used once) read as little-endian uint64 words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from consent.ids import Address, StudyId
from consent.secagg.errors import SecAggParamsError
from consent.secagg.ring import RingVector

__all__ = ["RoundContext", "StudyContext", "expand", "pairwise_seed", "self_mask_seed"]

_PAIRWISE: Final = b"consentfl/secagg/pairwise/v1"
_SELF: Final = b"consentfl/secagg/self-mask/v1"
_ZERO_NONCE: Final = bytes(16)


@dataclass(frozen=True, slots=True)
class RoundContext:
    """The round a mask belongs to: binds every derived seed and every commitment."""

    study: StudyId
    round: int

    def __post_init__(self) -> None:
        if len(self.study) != 32 or self.round < 0:
            raise SecAggParamsError("a round context needs a 32-byte study id and a round >= 0")

    def tag(self) -> bytes:
        """study (32) | round (8, big-endian)."""
        return bytes(self.study) + self.round.to_bytes(8, "big")


@dataclass(frozen=True, slots=True)
class StudyContext:
    """A study's key set-up (the deal of a hospital's mask key, once per registered key)."""

    study: StudyId
    epoch: int = 0
    """How many times the hospital registered a key for the study before this one."""

    def __post_init__(self) -> None:
        if len(self.study) != 32 or self.epoch < 0:
            raise SecAggParamsError("a study context needs a 32-byte study id and an epoch >= 0")

    def tag(self) -> bytes:
        """study (32) | b"key-deal" | epoch (8): never equal to a round's tag (40 bytes)."""
        return bytes(self.study) + b"key-deal" + self.epoch.to_bytes(8, "big")


def _hkdf(secret: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret)


def _address_bytes(address: Address) -> bytes:
    return bytes.fromhex(address[2:])


def pairwise_seed(
    context: RoundContext,
    own: Address,
    own_key: X25519PrivateKey,
    peer: Address,
    peer_key: X25519PublicKey,
) -> bytes:
    """The 32-byte seed `own` and `peer` share for this round."""
    if own.lower() == peer.lower():
        raise SecAggParamsError("a hospital has no pairwise mask with itself")
    low, high = sorted((_address_bytes(own), _address_bytes(peer)))
    try:
        shared = own_key.exchange(peer_key)
    except ValueError as exc:  # a low-order point gives the all-zero secret
        raise SecAggParamsError(f"{peer}'s mask key yields no shared secret") from exc
    return _hkdf(shared, _PAIRWISE + context.tag() + low + high)


def self_mask_seed(context: RoundContext, owner: Address, seed: bytes) -> bytes:
    """The key the self-mask is expanded from, bound to the round and owner."""
    if len(seed) != 32:
        raise SecAggParamsError(f"a self-mask seed is 32 bytes, got {len(seed)}")
    return _hkdf(seed, _SELF + context.tag() + _address_bytes(owner))


def expand(key: bytes, length: int) -> RingVector:
    """`length` pseudo-random ring elements: the ChaCha20 keystream under `key`."""
    encryptor = Cipher(algorithms.ChaCha20(key, _ZERO_NONCE), mode=None).encryptor()
    stream = encryptor.update(bytes(8 * length))
    return np.frombuffer(stream, dtype="<u8").astype(np.uint64, copy=True)
