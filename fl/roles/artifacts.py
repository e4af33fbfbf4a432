"""Artifacts as the roles handle them: bytes, their SHA-256 (what the ledger records) and CID,
and the one place a fetched artifact is checked against its on-chain hash before use.

`store_artifact` puts the bytes and hashes them at once (`fl.roles.overlap`: the store's CID
and write on a worker thread, the SHA-256 on the caller's); the caller submits the hash on chain
only after it returns, so nothing is on chain before its artifact is stored."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol

from consent.ids import Bytes32
from fl.roles.errors import BaseModelMismatchError
from fl.roles.overlap import overlapped

__all__ = [
    "Artifact",
    "ArtifactSink",
    "ArtifactSource",
    "fetch_verified",
    "sha256",
    "store_artifact",
]


class ArtifactSource(Protocol):
    """The reading half of `fl.ports.ArtifactStorePort`: what an auditor's recomputation needs."""

    def get(self, cid: str) -> bytes:
        """The bytes behind `cid`, verified against it."""
        ...


class ArtifactSink(Protocol):
    """The writing half of `fl.ports.ArtifactStorePort`."""

    def put(self, data: bytes) -> str:
        """Store `data`; returns its CID."""
        ...


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


def fetch_verified(store: ArtifactSource, cid: str, expected: bytes) -> bytes:
    """The bytes behind `cid`, refused (`BaseModelMismatchError`) unless their SHA-256 is
    `expected`, the hash the ledger records."""
    data = store.get(cid)
    digest = sha256(data)
    if digest != bytes(expected):
        raise BaseModelMismatchError(cid, bytes(expected), digest)
    return data


def store_artifact(store: ArtifactSink, data: bytes) -> Artifact:
    """`data` stored, with its SHA-256 and CID (the put and the hash overlapped)."""
    cid, digest = overlapped(lambda: store.put(data), lambda: sha256(data))
    return Artifact(data, Bytes32(digest), cid)
