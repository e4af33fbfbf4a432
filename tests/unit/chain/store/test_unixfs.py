import pytest

from chain.store.unixfs import (
    UNIXFS_FILE,
    NodeFormatError,
    PbLink,
    decode_file_data,
    decode_node,
    encode_file_node,
)


def _link(n: int, tsize: int) -> PbLink:
    return PbLink(b"\x01\x55\x12\x20" + bytes([n]) * 32, "", tsize)


def test_file_node_round_trip_keeps_links_and_sizes() -> None:
    links = [_link(1, 262144), _link(2, 300), _link(3, 2**40)]
    sizes = [262144, 300, 2**40]

    node = decode_node(encode_file_node(links, sizes))
    assert node.data is not None
    unixfs = decode_file_data(node.data)

    assert node.links == tuple(links)
    assert unixfs.kind == UNIXFS_FILE
    assert unixfs.filesize == sum(sizes)
    assert unixfs.blocksizes == tuple(sizes)
    assert unixfs.data == b""


def test_encoding_writes_links_before_data_and_empty_names() -> None:
    block = encode_file_node([_link(7, 5)], [5])

    assert block[0] == 0x12  # field 2 (Links) comes first in canonical dag-pb
    assert b"\x12\x00\x18\x05" in block  # Name "" is written, then Tsize 5
    assert block.endswith(b"\x0a\x06\x08\x02\x18\x05\x20\x05")


@pytest.mark.parametrize(
    ("block", "message"),
    [
        (b"\x12", "truncated"),
        (b"\x0a\x05abc", "truncated"),
        (b"\x1a\x00", "unknown dag-pb field"),
        (b"\x08\x01", "wire type"),
        (b"\x0a\x00\x12\x00", "Links after Data"),
        (b"\x12\x02\x18\x01", "without Hash"),
        (b"\xff" * 11, "varint"),
    ],
)
def test_decode_malformed_node_raises_node_format_error(block: bytes, message: str) -> None:
    with pytest.raises(NodeFormatError, match=message):
        decode_node(block)


def test_decode_directory_unixfs_is_refused() -> None:
    with pytest.raises(NodeFormatError, match="not a file"):
        decode_file_data(b"\x08\x01")


def test_decode_file_data_skips_unknown_fields() -> None:
    # mode (7, varint) and mtime (8, message) are ignored; inline data is kept
    parsed = decode_file_data(b"\x08\x02\x12\x03abc\x18\x03\x38\xa4\x03\x42\x02\x08\x01")

    assert parsed.data == b"abc"
    assert parsed.filesize == 3
