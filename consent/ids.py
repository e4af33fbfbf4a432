"""Identifiers shared by every layer: studies, patients, hospitals, hashes."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NewType

from consent.keccak import keccak256

__all__ = [
    "Address",
    "Bytes32",
    "InvalidIdentifierError",
    "StudyId",
    "address_from_bytes",
    "parse_address",
    "parse_bytes32",
    "study_id",
]

StudyId = NewType("StudyId", bytes)
"""A study's on-chain id: 32 bytes."""

Address = NewType("Address", str)
"""A checksummed Ethereum address (patients, hospitals, aggregators)."""

Bytes32 = NewType("Bytes32", bytes)
"""32 raw bytes: SHA-256 artifact hashes, Merkle roots."""

_HEX32 = re.compile(r"^0x[0-9a-fA-F]{64}$")
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


class InvalidIdentifierError(ValueError):
    """A study id, address or hash that is not well formed."""


def study_id(name_or_hex: str) -> StudyId:
    """The study id for a human name (keccak256 of its UTF-8) or a 0x-prefixed 32-byte hex id."""
    if not name_or_hex:
        raise InvalidIdentifierError("a study id or name must not be empty")
    if _HEX32.match(name_or_hex):
        return StudyId(bytes.fromhex(name_or_hex[2:]))
    return StudyId(keccak256(name_or_hex.encode("utf-8")))


@lru_cache(maxsize=1 << 16)
def _eip55(digits: str) -> Address:
    """EIP-55 of 40 lower-case hex digits: a letter is upper-case where the keccak of the digits
    has a nibble >= 8. By hand: eth_utils' `to_checksum_address` re-validates and re-formats
    (~0.4 ms a call; the relayer parses several addresses per request); the unit test checks
    this against it. Cached: a request parses the same patient, relayer and hospital addresses
    several times (path, recovered signer, event, receipt), each a keccak."""
    nibbles = keccak256(digits.encode()).hex()
    return Address(
        "0x" + "".join(c.upper() if n >= "8" else c for c, n in zip(digits, nibbles, strict=False))
    )


def parse_address(value: str) -> Address:
    """A checksummed address from a 0x-prefixed 20-byte hex string (any case)."""
    if not isinstance(value, str) or not _ADDRESS.match(value):
        raise InvalidIdentifierError(f"not an Ethereum address: {value!r}")
    return _eip55(value[2:].lower())


def address_from_bytes(raw: bytes) -> Address:
    """The checksummed address of 20 raw bytes."""
    if len(raw) != 20:
        raise InvalidIdentifierError(f"an address is 20 bytes, got {len(raw)}")
    return _eip55(raw.hex())


def parse_bytes32(value: str | bytes) -> Bytes32:
    """32 bytes from raw bytes or a 0x-prefixed 64-digit hex string."""
    if isinstance(value, bytes):
        if len(value) != 32:
            raise InvalidIdentifierError(f"expected 32 bytes, got {len(value)}")
        return Bytes32(value)
    if not _HEX32.match(value):
        raise InvalidIdentifierError(f"not a 32-byte hex value: {value!r}")
    return Bytes32(bytes.fromhex(value[2:]))
