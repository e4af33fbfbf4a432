"""Artifacts as the roles handle them: bytes, their SHA-256 (what the ledger records) and CID,
and the one place a fetched artifact is checked against its on-chain hash before use.

`store_artifact` puts the bytes and hashes them at once (`fl.roles.overlap`: the store's CID
and write on a worker thread, the SHA-256 on the caller's); the caller submits the hash on chain
only after it returns, so nothing is on chain before its artifact is stored.

Verified-read cache (issue 19): roles that share one store object in one process (the embedded
study: the aggregator and every hospital) hand each other 4 MB artifacts through it every round,
and each hand-over used to cost a store read, the store's CID check and a SHA-256 of bytes this
process had already hashed. `fetch_verified` now first looks the artifact up in a small cache of
bytes this process already holds *and already hashed*, keyed by (store, CID, SHA-256); see
`VerifiedCache` for why a hit is the same check as a fetch."""

from __future__ import annotations

import hashlib
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Final, Protocol

from consent.ids import Bytes32
from fl.roles.errors import BaseModelMismatchError
from fl.roles.overlap import overlapped

__all__ = [
    "VERIFIED",
    "VERIFIED_CACHE_BYTES",
    "Artifact",
    "ArtifactSink",
    "ArtifactSource",
    "VerifiedCache",
    "fetch_verified",
    "sha256",
    "store_artifact",
]

VERIFIED_CACHE_BYTES: Final = 128 * 1024 * 1024
"""Most artifact bytes the verified-read cache keeps alive per store (least recently used go)."""


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


class VerifiedCache:
    """Artifacts this process already holds as hashed `bytes`, per store, by (CID, SHA-256).

    Why a hit is as good as fetching and hashing (the trust argument):

    - an entry goes in only from `store_artifact` (the bytes this process just put, under the
      CID that store returned for them) or from `fetch_verified` (bytes the store returned for
      that CID, which then passed the SHA-256 check); in both cases the SHA-256 in the key was
      computed here, over exactly those bytes, as they entered;
    - only `bytes` go in, never a mutable buffer: nothing can change them after they were hashed;
    - a lookup must match the CID *and* the hash the ledger records: a hit returns bytes whose
      SHA-256 is the on-chain hash, which is the whole of `fetch_verified`'s check. A forged CID
      or a forged hash on chain finds no entry, so it is fetched and refused exactly as before;
    - entries are per store object (held weakly): a role reading through a different store still
      reads that store, its absences and failures included.

    What a hit does not do is read the store again: a block damaged on disk *after* this process
    put or verified it goes unnoticed by this process's own later reads (which get the original,
    on-chain bytes, never the damaged ones); every other reader (another hospital's process, the
    audit, `store.get`) still reads the store and refuses it.
    """

    def __init__(self, max_bytes: int = VERIFIED_CACHE_BYTES) -> None:
        self._max_bytes = max_bytes
        self._lock = threading.Lock()
        self._stores: weakref.WeakKeyDictionary[object, OrderedDict[tuple[str, bytes], bytes]]
        self._stores = weakref.WeakKeyDictionary()
        self._sizes: weakref.WeakKeyDictionary[object, int] = weakref.WeakKeyDictionary()

    def remember(self, store: object, cid: str, digest: bytes, data: bytes) -> None:
        """Keep `data`, whose SHA-256 the caller just computed as `digest`, for `store`'s `cid`."""
        if type(data) is not bytes or len(data) > self._max_bytes or not cid:
            return  # a mutable buffer could change after it was hashed: never cached
        key = (cid, bytes(digest))
        with self._lock:
            try:
                entries = self._stores.setdefault(store, OrderedDict())
            except TypeError:  # a store that cannot be held weakly is not cached for
                return
            if key in entries:
                entries.move_to_end(key)
                return
            entries[key] = data
            size = self._sizes.get(store, 0) + len(data)
            while size > self._max_bytes:
                _, evicted = entries.popitem(last=False)
                size -= len(evicted)
            self._sizes[store] = size

    def lookup(self, store: object, cid: str, expected: bytes) -> bytes | None:
        """The bytes kept for `store`'s `cid` with SHA-256 `expected`, or None."""
        key = (cid, bytes(expected))
        with self._lock:
            try:
                entries = self._stores.get(store)
            except TypeError:
                return None
            if entries is None or key not in entries:
                return None
            entries.move_to_end(key)
            return entries[key]

    def clear(self) -> None:
        """Forget every entry (tests; a process that wants every read to go to its store)."""
        with self._lock:
            self._stores.clear()
            self._sizes.clear()


VERIFIED: Final = VerifiedCache()
"""This process's verified-read cache (see `VerifiedCache`)."""


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
    `expected`, the hash the ledger records (bytes this process already hashed under that CID
    and hash for this store come from `VERIFIED` instead: see `VerifiedCache`)."""
    cached = VERIFIED.lookup(store, cid, expected)
    if cached is not None:
        return cached
    data = store.get(cid)
    digest = sha256(data)
    if digest != bytes(expected):
        raise BaseModelMismatchError(cid, bytes(expected), digest)
    VERIFIED.remember(store, cid, digest, data)
    return data


def store_artifact(store: ArtifactSink, data: bytes) -> Artifact:
    """`data` stored, with its SHA-256 and CID (the put and the hash overlapped)."""
    cid, digest = overlapped(lambda: store.put(data), lambda: sha256(data))
    VERIFIED.remember(store, cid, digest, data)
    return Artifact(data, Bytes32(digest), cid)
