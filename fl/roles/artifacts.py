"""Artifacts as the roles handle them: bytes, their SHA-256 (what the ledger records) and CID,
and the one place a fetched artifact is checked against its on-chain hash before use."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from consent.ids import Bytes32
from fl.ports import ArtifactStorePort
from fl.roles.errors import BaseModelMismatchError

__all__ = ["Artifact", "fetch_verified", "sha256"]


def sha256(data: bytes) -> bytes:
    """SHA-256 of the exact bytes (what the ledger records for artifacts)."""
    return hashlib.sha256(data).digest()


@dataclass(frozen=True, slots=True)
class Artifact:
    """A model's bytes with its SHA-256 and, once stored, its CID."""

    data: bytes
    hash: Bytes32
    cid: str = ""

    @classmethod
    def of(cls, data: bytes) -> Artifact:
        return cls(data, Bytes32(sha256(data)))


def fetch_verified(store: ArtifactStorePort, cid: str, expected: bytes) -> bytes:
    """The bytes behind `cid`, refused (`BaseModelMismatchError`) unless their SHA-256 is
    `expected`, the hash the ledger records."""
    data = store.get(cid)
    digest = sha256(data)
    if digest != bytes(expected):
        raise BaseModelMismatchError(cid, bytes(expected), digest)
    return data
