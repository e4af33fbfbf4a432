import io

import pytest

from chain.store.car import MAX_SECTION, CarReader, write_car
from chain.store.cid import ContentId, parse_cid
from chain.store.dag import CHUNK_SIZE, build_dag
from chain.store.errors import CarFormatError, CorruptArtifactError
from tests.unit.chain.store.payloads import payload

# The first bytes of js-ipfs 0.66.1 `dag export` of this root: length, then DAG-CBOR header.
JS_IPFS_ROOT = "bafybeicpcucw5aktclv3wprd3ghxeqldgtdsup4vgmvoddzfr37oesjida"
JS_IPFS_HEADER = bytes.fromhex(
    "3aa265726f6f747381d82a582500017012204f15056e815312ebbb3e23d98f72416334c72a3f95332ae1"
    "8f258efee24928186776657273696f6e01"
)


def _car(data: bytes) -> tuple[ContentId, bytes, list[tuple[ContentId, bytes]]]:
    blocks: list[tuple[ContentId, bytes]] = []
    root = build_dag(data, lambda cid, block: blocks.append((cid, bytes(block))))
    out = io.BytesIO()
    write_car(out, [root], blocks)
    return root, out.getvalue(), blocks


def test_header_encoding_matches_js_ipfs_export() -> None:
    out = io.BytesIO()

    write_car(out, [parse_cid(JS_IPFS_ROOT)], [])

    assert out.getvalue() == JS_IPFS_HEADER


def test_car_round_trip_keeps_roots_and_blocks() -> None:
    root, car, blocks = _car(payload(3 * CHUNK_SIZE))

    reader = CarReader(io.BytesIO(car))

    assert reader.roots == (root,)
    assert list(reader.blocks()) == blocks


def test_car_with_tampered_block_raises_corrupt() -> None:
    _, car, _ = _car(payload(2 * CHUNK_SIZE))
    damaged = bytearray(car)
    damaged[len(JS_IPFS_HEADER) + 100] ^= 0xFF  # inside the first block's bytes

    with pytest.raises(CorruptArtifactError):
        list(CarReader(io.BytesIO(bytes(damaged))).blocks())


def test_truncated_car_raises_car_format_error() -> None:
    _, car, _ = _car(payload(2 * CHUNK_SIZE))

    with pytest.raises(CarFormatError, match="truncated"):
        list(CarReader(io.BytesIO(car[:-10])).blocks())


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00",
        b"\x05\xa1\x61a\x01\x00",
        b"\x0b\xa1\x67version\x02",
        b"\x03\xa2\x80",
        b"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01",
    ],
    ids=["empty", "zero length", "no version", "version 2", "truncated cbor", "long varint"],
)
def test_malformed_header_raises_car_format_error(data: bytes) -> None:
    with pytest.raises(CarFormatError):
        CarReader(io.BytesIO(data))


def test_oversized_section_is_refused_before_reading_it() -> None:
    out = io.BytesIO()
    write_car(out, [build_dag(b"")], [])
    size = MAX_SECTION + 1
    varint = bytearray()
    while size >= 0x80:
        varint.append((size & 0x7F) | 0x80)
        size >>= 7
    varint.append(size)

    reader = CarReader(io.BytesIO(out.getvalue() + varint))

    with pytest.raises(CarFormatError, match="out of range"):
        list(reader.blocks())


def test_block_with_unsupported_cid_raises_car_format_error() -> None:
    out = io.BytesIO()
    write_car(out, [build_dag(b"")], [])
    section = b"\x01\x71\x12\x20" + bytes(32) + b"cbor"

    reader = CarReader(io.BytesIO(out.getvalue() + bytes([len(section)]) + section))

    with pytest.raises(CarFormatError, match="CID"):
        list(reader.blocks())
