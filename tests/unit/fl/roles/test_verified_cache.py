"""The roles' verified-read cache (fl.roles.artifacts.VerifiedCache): a hit is the same check as a
fetch, and whatever fails the on-chain hash check without the cache still fails with it."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from chain.store import ArtifactNotFoundError, CorruptArtifactError, LocalStore
from fl.roles import BaseModelMismatchError
from fl.roles.artifacts import VERIFIED, VerifiedCache, fetch_verified, store_artifact


class CountingStore:
    """A LocalStore that counts its reads."""

    def __init__(self, inner: LocalStore) -> None:
        self.inner = inner
        self.gets: list[str] = []

    def put(self, data: bytes) -> str:
        return self.inner.put(data)

    def get(self, cid: str) -> bytes:
        self.gets.append(cid)
        return self.inner.get(cid)


@pytest.fixture
def store(tmp_path: Path) -> CountingStore:
    return CountingStore(LocalStore(tmp_path / "store"))


def _artifact(size: int = 600_000) -> bytes:
    return os.urandom(size)  # more than two 256 KiB blocks


def test_an_artifact_this_process_stored_is_read_back_without_the_store(
    store: CountingStore,
) -> None:
    data = _artifact()
    stored = store_artifact(store, data)

    assert stored.hash == hashlib.sha256(data).digest()
    assert fetch_verified(store, stored.cid, stored.hash) is data
    assert store.gets == []


def test_a_verified_fetch_is_kept_for_the_next_reader_of_the_same_store(
    store: CountingStore,
) -> None:
    data = _artifact()
    cid = store.inner.put(data)  # another process's put: not in this process's cache
    digest = hashlib.sha256(data).digest()

    assert fetch_verified(store, cid, digest) == data
    assert fetch_verified(store, cid, digest) == data
    assert store.gets == [cid]


def test_a_forged_on_chain_hash_is_refused_although_the_cid_is_cached(
    store: CountingStore,
) -> None:
    stored = store_artifact(store, _artifact())
    forged = b"\x02" * 32

    with pytest.raises(BaseModelMismatchError) as caught:
        fetch_verified(store, stored.cid, forged)

    assert caught.value.cid == stored.cid
    assert store.gets == [stored.cid]  # the miss went to the store and failed the hash check


def test_a_forged_cid_is_fetched_and_refused_although_the_hash_is_cached(
    store: CountingStore,
) -> None:
    stored = store_artifact(store, _artifact())
    other = store.put(b"not the model")

    with pytest.raises(BaseModelMismatchError):
        fetch_verified(store, other, stored.hash)

    assert store.gets == [other]


def test_a_block_tampered_on_disk_is_refused_by_every_reader_that_reads_the_store(
    store: CountingStore, tmp_path: Path
) -> None:
    data = _artifact()
    stored = store_artifact(store, data)
    block = store.inner.block_paths(stored.cid)[1]  # a leaf
    damaged = bytearray(block.read_bytes())
    damaged[3] ^= 0x01
    block.write_bytes(bytes(damaged))

    # another reader of the same directory (another hospital's process, an auditor) and the
    # store itself read the disk and refuse the damaged block, exactly as before the cache
    with pytest.raises(CorruptArtifactError):
        fetch_verified(LocalStore(tmp_path / "store"), stored.cid, stored.hash)
    with pytest.raises(CorruptArtifactError):
        store.get(stored.cid)
    # this process's own store object answers with the bytes it hashed, the on-chain ones
    again = fetch_verified(store, stored.cid, stored.hash)
    assert hashlib.sha256(again).digest() == stored.hash
    assert again == data


def test_mutable_buffers_are_never_cached(store: CountingStore) -> None:
    cache = VerifiedCache()
    data = bytearray(_artifact(1000))
    cid = store.put(bytes(data))
    cache.remember(store, cid, hashlib.sha256(data).digest(), data)  # type: ignore[arg-type]

    assert cache.lookup(store, cid, hashlib.sha256(data).digest()) is None


def test_entries_belong_to_one_store_object(store: CountingStore, tmp_path: Path) -> None:
    stored = store_artifact(store, _artifact())
    elsewhere = CountingStore(LocalStore(tmp_path / "elsewhere"))

    assert VERIFIED.lookup(elsewhere, stored.cid, stored.hash) is None
    with pytest.raises(ArtifactNotFoundError):
        fetch_verified(elsewhere, stored.cid, stored.hash)
    assert elsewhere.gets == [stored.cid]


def test_the_least_recently_used_entries_go_beyond_the_byte_bound(store: CountingStore) -> None:
    cache = VerifiedCache(max_bytes=2500)
    blobs = [os.urandom(1000) for _ in range(3)]
    keys = [(f"cid-{k}", hashlib.sha256(b).digest()) for k, b in enumerate(blobs)]
    cache.remember(store, *keys[0], blobs[0])
    cache.remember(store, *keys[1], blobs[1])
    assert cache.lookup(store, *keys[0]) is blobs[0]  # now the most recent
    cache.remember(store, *keys[2], blobs[2])

    assert cache.lookup(store, *keys[1]) is None
    assert cache.lookup(store, *keys[0]) is blobs[0]
    assert cache.lookup(store, *keys[2]) is blobs[2]
    cache.remember(store, "too-big", b"\x00" * 32, bytes(3000))
    assert cache.lookup(store, "too-big", b"\x00" * 32) is None


def test_a_store_that_cannot_be_held_weakly_is_just_not_cached() -> None:
    class Slotted:
        __slots__ = ("blobs",)

        def __init__(self) -> None:
            self.blobs: dict[str, bytes] = {}

        def put(self, data: bytes) -> str:
            self.blobs["c"] = data
            return "c"

        def get(self, cid: str) -> bytes:
            return self.blobs[cid]

    slotted = Slotted()
    stored = store_artifact(slotted, b"model")

    assert fetch_verified(slotted, stored.cid, stored.hash) == b"model"
    assert VERIFIED.lookup(slotted, stored.cid, stored.hash) is None
