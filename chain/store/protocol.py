"""The artifact-store port: what every store offers, whatever holds the bytes."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["ArtifactReader", "ArtifactStore"]


@runtime_checkable
class ArtifactReader(Protocol):
    """The reading half of a store: what an auditor needs, and nothing that writes."""

    def get(self, cid: str) -> bytes:
        """The bytes behind `cid`, verified against it.

        Raises `ArtifactNotFoundError` when absent, `CorruptArtifactError` when the bytes do not
        match, `InvalidCidError` for a malformed CID, `StoreUnavailableError` when the node is down.
        """
        ...

    def has(self, cid: str) -> bool:
        """Whether the store can serve `cid` now, without asking any other peer."""
        ...


@runtime_checkable
class ArtifactStore(ArtifactReader, Protocol):
    """Content-addressed storage of artifacts (models, updates, proofs) by CIDv1 (base32).

    A CID names the exact bytes in Kubo's `ipfs add --cid-version=1 --raw-leaves` layout, so an
    artifact keeps its CID whichever store holds it. Callers still check the SHA-256 recorded on
    chain: the CID proves the bytes match the CID, the chain proves the CID is the right one.
    """

    def put(self, data: bytes) -> str:
        """Store `data` (and pin it); returns its CID."""
        ...

    def pin(self, cid: str) -> None:
        """Keep `cid` and everything under it; raises `ArtifactNotFoundError` if incomplete."""
        ...
