"""Content-addressed artifact storage: IPFS over its RPC API, or an embedded Kubo-compatible store.

Both stores give an artifact the CID `ipfs add --cid-version=1` would (raw leaves, 256 KiB chunks,
balanced DAG, base32), verify what they read against it, and fail with a named `StoreError`.
"""

from __future__ import annotations

import os

from chain.store.car import CarReader, write_car
from chain.store.cid import ContentId, parse_cid
from chain.store.dag import CHUNK_SIZE, MAX_LINKS, build_dag
from chain.store.errors import (
    ArtifactNotFoundError,
    CarFormatError,
    CorruptArtifactError,
    InvalidCidError,
    StoreError,
    StoreUnavailableError,
)
from chain.store.ipfs import IpfsStore
from chain.store.local import LocalStore
from chain.store.protocol import ArtifactReader, ArtifactStore

__all__ = [
    "CHUNK_SIZE",
    "MAX_LINKS",
    "ArtifactNotFoundError",
    "ArtifactReader",
    "ArtifactStore",
    "CarFormatError",
    "CarReader",
    "ContentId",
    "CorruptArtifactError",
    "InvalidCidError",
    "IpfsStore",
    "LocalStore",
    "StoreError",
    "StoreUnavailableError",
    "build_dag",
    "compute_cid",
    "open_store",
    "parse_cid",
    "write_car",
]

_MULTIADDR_PREFIXES = ("/ip4/", "/ip6/", "/dns/", "/dns4/", "/dns6/")


def compute_cid(data: bytes) -> str:
    """The CID `ipfs add --cid-version=1` gives `data`, without storing anything."""
    return str(build_dag(data))


def open_store(url_or_path: str | os.PathLike[str]) -> ArtifactStore:
    """An `IpfsStore` for an http(s) URL or an API multiaddr, a `LocalStore` for a directory."""
    text = os.fspath(url_or_path)
    if text.startswith(("http://", "https://")) or text.startswith(_MULTIADDR_PREFIXES):
        return IpfsStore(text)
    return LocalStore(text)
