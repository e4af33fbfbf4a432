import io
import shutil
from pathlib import Path

import cid as py_cid
import pytest

from chain.store import ArtifactStore, compute_cid
from chain.store.car import CarReader, write_car
from chain.store.dag import CHUNK_SIZE
from chain.store.errors import (
    ArtifactNotFoundError,
    CarFormatError,
    CorruptArtifactError,
    InvalidCidError,
)
from chain.store.local import LocalStore
from tests.unit.chain.store.payloads import payload

ABSENT = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "store")


def test_local_store_satisfies_the_protocol(store: LocalStore) -> None:
    assert isinstance(store, ArtifactStore)


def test_put_returns_kubo_cid_and_get_returns_same_bytes(
    store: LocalStore, sized_payload: bytes
) -> None:
    cid = store.put(sized_payload)

    assert cid == compute_cid(sized_payload)
    assert store.get(cid) == sized_payload
    assert store.has(cid)


def test_put_twice_is_idempotent_and_pins_root(store: LocalStore) -> None:
    data = payload(2 * CHUNK_SIZE + 5)

    first = store.put(data)
    files = sorted(store.root.rglob("*"))
    second = store.put(data)

    assert first == second
    assert sorted(store.root.rglob("*")) == files
    assert store.pins() == (first,)
    assert not list((store.root / "tmp").iterdir())


def test_get_accepts_base58_and_cidv0_forms(store: LocalStore) -> None:
    cid = store.put(payload(CHUNK_SIZE + 1))
    parsed = py_cid.from_string(cid)

    assert store.get(parsed.encode("base58btc").decode()) == store.get(cid)
    assert store.get(parsed.to_v0().encode().decode()) == store.get(cid)


def test_get_absent_cid_raises_not_found(store: LocalStore) -> None:
    with pytest.raises(ArtifactNotFoundError) as info:
        store.get(ABSENT)

    assert info.value.cid == ABSENT
    assert isinstance(info.value, KeyError)
    assert not store.has(ABSENT)


def test_get_malformed_cid_raises_invalid_cid(store: LocalStore) -> None:
    with pytest.raises(InvalidCidError):
        store.get("../../etc/passwd")


def test_get_with_flipped_byte_on_disk_raises_corrupt(store: LocalStore) -> None:
    cid = store.put(payload(3 * CHUNK_SIZE))
    leaf = store.block_paths(cid)[2]
    damaged = bytearray(leaf.read_bytes())
    damaged[-1] ^= 1
    leaf.write_bytes(bytes(damaged))

    with pytest.raises(CorruptArtifactError):
        store.get(cid)


def test_get_with_truncated_root_block_raises_corrupt(store: LocalStore) -> None:
    cid = store.put(payload(3 * CHUNK_SIZE))
    root = store.block_paths(cid)[0]
    root.write_bytes(root.read_bytes()[:-3])

    with pytest.raises(CorruptArtifactError):
        store.get(cid)


def test_deleted_leaf_makes_get_raise_and_has_false(store: LocalStore) -> None:
    cid = store.put(payload(3 * CHUNK_SIZE))
    leaf = store.block_paths(cid)[-1]
    leaf.unlink()

    with pytest.raises(ArtifactNotFoundError) as info:
        store.get(cid)

    assert info.value.missing != cid
    assert not store.has(cid)
    with pytest.raises(ArtifactNotFoundError):
        store.pin(cid)


def test_car_export_then_import_into_fresh_store_preserves_root_and_bytes(
    store: LocalStore, tmp_path: Path
) -> None:
    data = payload(5 * CHUNK_SIZE + 3)
    cid = store.put(data)
    car = io.BytesIO()
    size = store.export_car(cid, car)
    other = LocalStore(tmp_path / "other")

    roots = other.import_car(io.BytesIO(car.getvalue()))

    assert size == len(car.getvalue())
    assert roots == (cid,)
    assert other.get(cid) == data
    assert other.pins() == (cid,)


def test_import_car_lacking_a_block_raises_not_found_and_pins_nothing(
    store: LocalStore, tmp_path: Path
) -> None:
    cid = store.put(payload(3 * CHUNK_SIZE))
    car = io.BytesIO()
    store.export_car(cid, car)
    root, *blocks = CarReader(io.BytesIO(car.getvalue())).blocks()
    partial = io.BytesIO()
    write_car(partial, [root[0]], [root, *blocks[:-1]])
    other = LocalStore(tmp_path / "other")

    with pytest.raises(ArtifactNotFoundError) as info:
        other.import_car(io.BytesIO(partial.getvalue()))

    assert info.value.missing == str(blocks[-1][0])
    assert other.pins() == ()


def test_import_truncated_car_raises_car_format_error(store: LocalStore, tmp_path: Path) -> None:
    cid = store.put(payload(2 * CHUNK_SIZE))
    car = io.BytesIO()
    store.export_car(cid, car)

    with pytest.raises(CarFormatError):
        LocalStore(tmp_path / "other").import_car(io.BytesIO(car.getvalue()[:-5]))


def test_store_reopened_from_same_directory_serves_old_artifacts(tmp_path: Path) -> None:
    data = payload(CHUNK_SIZE * 2)
    cid = LocalStore(tmp_path / "s").put(data)

    assert LocalStore(tmp_path / "s").get(cid) == data


def test_a_shard_directory_removed_after_a_put_is_made_again_by_the_next_put(
    store: LocalStore,
) -> None:
    first = payload(3 * CHUNK_SIZE)
    cid = store.put(first)
    for path in store.block_paths(cid):
        shutil.rmtree(path.parent, ignore_errors=True)  # every shard this store already made

    again = store.put(first)  # the same blocks, into shards this object believes exist

    assert again == cid
    assert store.get(cid) == first
    assert all(path.is_file() for path in store.block_paths(cid))
