import hashlib

import pytest

from chain.store.cid import DAG_PB, RAW, ContentId
from chain.store.dag import (
    CHUNK_SIZE,
    MAX_LINKS,
    BlockSource,
    build_dag,
    first_missing_block,
    read_dag,
)
from chain.store.errors import ArtifactNotFoundError, CorruptArtifactError
from chain.store.unixfs import PbLink, decode_file_data, decode_node, encode_file_node
from tests.unit.chain.store.payloads import LARGE_SIZES, chacha_vector, payload


def _collect(data: bytes) -> tuple[ContentId, dict[ContentId, bytes]]:
    blocks: dict[ContentId, bytes] = {}

    def sink(cid: ContentId, block: memoryview | bytes) -> None:
        blocks[cid] = bytes(block)

    return build_dag(data, sink), blocks


def _fetch(blocks: dict[ContentId, bytes]) -> BlockSource:
    def fetch(cid: ContentId) -> bytes:
        try:
            return blocks[cid]
        except KeyError as exc:
            raise ArtifactNotFoundError("root", missing=str(cid)) from exc

    return fetch


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"hello world\n", "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"),
        (b"", "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"),
        (
            chacha_vector(CHUNK_SIZE + 1),
            "bafybeibyui7o3sbw3yifnewshhrbnuntcehluzvbkwgi5vmtsdobnc2c6y",
        ),
    ],
    ids=["hello world", "empty", "chacha 262145"],
)
def test_build_dag_matches_kubo_vectors(data: bytes, expected: str) -> None:
    assert str(build_dag(data)) == expected


def test_single_chunk_file_is_one_raw_leaf() -> None:
    data = payload(CHUNK_SIZE)

    root, blocks = _collect(data)

    assert root == ContentId(RAW, hashlib.sha256(data).digest())
    assert blocks == {root: data}


def test_two_chunk_file_root_lists_both_leaves_with_sizes() -> None:
    data = payload(CHUNK_SIZE + 1)

    root, blocks = _collect(data)
    node = decode_node(blocks[root])
    assert node.data is not None
    unixfs = decode_file_data(node.data)

    assert root.codec == DAG_PB
    assert [link.tsize for link in node.links] == [CHUNK_SIZE, 1]
    assert unixfs.blocksizes == (CHUNK_SIZE, 1)
    assert unixfs.filesize == len(data)


def test_174_chunks_fit_under_one_root_and_175_add_a_level() -> None:
    root174, blocks174 = _collect(payload(LARGE_SIZES["174 chunks"], seed=1))
    root175, blocks175 = _collect(payload(LARGE_SIZES["175 chunks"], seed=1))

    top174 = decode_node(blocks174[root174])
    top175 = decode_node(blocks175[root175])
    second = [ContentId.from_binary(link.cid) for link in top175.links]

    assert len(top174.links) == MAX_LINKS
    assert all(ContentId.from_binary(link.cid).codec == RAW for link in top174.links)
    assert len(top175.links) == 2
    assert [len(decode_node(blocks175[cid]).links) for cid in second] == [MAX_LINKS, 1]
    # the first subtree of the 175-chunk file is exactly the 174-chunk file (same bytes)
    assert second[0] == root174


def test_tsize_of_inner_link_counts_node_and_children() -> None:
    root, blocks = _collect(payload(LARGE_SIZES["175 chunks"], seed=2))
    first = decode_node(blocks[root]).links[0]
    child = blocks[ContentId.from_binary(first.cid)]

    assert first.tsize == len(child) + MAX_LINKS * CHUNK_SIZE


def test_read_dag_round_trips(sized_payload: bytes) -> None:
    root, blocks = _collect(sized_payload)

    assert read_dag(root, _fetch(blocks)) == sized_payload


def test_read_dag_with_flipped_leaf_byte_raises_corrupt() -> None:
    root, blocks = _collect(payload(3 * CHUNK_SIZE))
    leaf = next(cid for cid in blocks if cid.codec == RAW)
    damaged = bytearray(blocks[leaf])
    damaged[100] ^= 1
    blocks[leaf] = bytes(damaged)

    with pytest.raises(CorruptArtifactError) as info:
        read_dag(root, _fetch(blocks))

    assert info.value.block == str(leaf)


def test_read_dag_with_forged_node_sizes_raises_corrupt() -> None:
    data = payload(2 * CHUNK_SIZE)
    _, blocks = _collect(data)
    leaves = [cid for cid in blocks if cid.codec == RAW]
    # a validly hashed node that lies about its children's sizes
    forged = encode_file_node([PbLink(c.binary, "", CHUNK_SIZE) for c in leaves], [CHUNK_SIZE, 7])
    forged_cid = ContentId(DAG_PB, hashlib.sha256(forged).digest())
    blocks[forged_cid] = forged

    with pytest.raises(CorruptArtifactError, match="size"):
        read_dag(forged_cid, _fetch(blocks))


def test_read_dag_with_garbage_node_raises_corrupt() -> None:
    garbage = b"\x12\x05oops!"
    cid = ContentId(DAG_PB, hashlib.sha256(garbage).digest())

    with pytest.raises(CorruptArtifactError):
        read_dag(cid, _fetch({cid: garbage}))


def test_read_dag_with_missing_leaf_raises_not_found_naming_the_block() -> None:
    root, blocks = _collect(payload(3 * CHUNK_SIZE))
    leaf = next(cid for cid in blocks if cid.codec == RAW)
    del blocks[leaf]

    with pytest.raises(ArtifactNotFoundError) as info:
        read_dag(root, _fetch(blocks))

    assert info.value.missing == str(leaf)


def test_first_missing_block_finds_absent_leaf_or_none() -> None:
    root, blocks = _collect(payload(3 * CHUNK_SIZE))
    leaf = [cid for cid in blocks if cid.codec == RAW][-1]

    assert first_missing_block(root, _fetch(blocks), blocks.__contains__) is None
    del blocks[leaf]
    assert first_missing_block(root, _fetch(blocks), blocks.__contains__) == leaf
