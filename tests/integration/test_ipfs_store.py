"""The artifact stores against a real (offline js-ipfs) node: same CIDs, CAR exchange, failures."""

import io
import random
from pathlib import Path

import ipfshttpclient
import pytest

from chain.store import (
    ArtifactNotFoundError,
    InvalidCidError,
    IpfsStore,
    LocalStore,
    compute_cid,
    parse_cid,
)
from tests.unit.chain.store.payloads import LARGE_SIZES, SIZES, chacha_vector, payload

pytestmark = pytest.mark.integration

ALL_SIZES = {**SIZES, **LARGE_SIZES}


def _node_add(api_url: str, data: bytes) -> str:
    """`ipfs add --cid-version=1 --raw-leaves` on the node itself, its answer normalized."""
    client = ipfshttpclient.Client(IpfsStore(api_url).multiaddr, timeout=60)
    result = client.add(io.BytesIO(data), cid_version=1, raw_leaves=True, pin=False)
    return str(parse_cid(str(result["Hash"])))


def _fresh(size: int) -> bytes:
    """Bytes the session's node has certainly not seen."""
    return payload(size, seed=random.SystemRandom().getrandbits(64))


@pytest.mark.parametrize("size", list(ALL_SIZES.values()), ids=list(ALL_SIZES))
def test_local_cid_equals_node_add_cid(ipfs_node: str, size: int) -> None:
    data = payload(size, seed=size)

    assert compute_cid(data) == _node_add(ipfs_node, data)


def test_design_vectors_match_node_add(ipfs_node: str) -> None:
    for data in (b"hello world\n", b"", chacha_vector(262145)):
        assert compute_cid(data) == _node_add(ipfs_node, data)


@pytest.mark.parametrize("size", list(SIZES.values()), ids=list(SIZES))
def test_ipfs_store_round_trip_gives_local_store_cid(
    ipfs_node: str, tmp_path: Path, size: int
) -> None:
    data = _fresh(size)
    store = IpfsStore(ipfs_node)

    cid = store.put(data)

    assert cid == LocalStore(tmp_path).put(data)
    assert store.has(cid)
    assert store.get(cid) == data
    store.pin(cid)


def test_car_from_local_store_imports_into_node_with_same_root(
    ipfs_node: str, tmp_path: Path
) -> None:
    data = _fresh(LARGE_SIZES["175 chunks"])
    local = LocalStore(tmp_path)
    cid = local.put(data)
    car = io.BytesIO()
    local.export_car(cid, car)
    node = IpfsStore(ipfs_node)

    assert not node.has(cid)
    assert node.import_car(car.getvalue()) == (cid,)
    assert node.get(cid) == data


def test_car_exported_by_node_imports_into_local_store(ipfs_node: str, tmp_path: Path) -> None:
    data = _fresh(3 * 1000 * 1000)
    node = IpfsStore(ipfs_node)
    cid = node.put(data)
    local = LocalStore(tmp_path)

    assert local.import_car(io.BytesIO(node.export_car(cid))) == (cid,)
    assert local.get(cid) == data


def test_absent_cid_is_reported_missing_not_hung(ipfs_node: str) -> None:
    absent = compute_cid(_fresh(64))
    store = IpfsStore(ipfs_node, timeout=2, lookup_timeout=0.5)

    assert not store.has(absent)
    with pytest.raises(ArtifactNotFoundError) as info:
        store.get(absent)
    assert info.value.cid == absent
    with pytest.raises(ArtifactNotFoundError):
        store.pin(absent)
    with pytest.raises(ArtifactNotFoundError):
        store.export_car(absent)


def test_malformed_cid_is_refused_before_asking_the_node(ipfs_node: str) -> None:
    with pytest.raises(InvalidCidError):
        IpfsStore(ipfs_node).get("not-a-cid")


def test_version_reports_the_node(ipfs_node: str) -> None:
    assert IpfsStore(ipfs_node).version()
