"""dag-pb nodes carrying UnixFS file data: the inner nodes of a file's Merkle DAG.

Hand-written protobuf: no maintained Python package covers dag-pb + UnixFS (py-ipld-dag-pb and
friends are unmaintained), and the wire format is small and frozen. Encoding follows the dag-pb
spec's canonical form (Links before Data; per link Hash, Name, Tsize; Name always present, as Kubo
writes it), which is what makes our CIDs equal to Kubo's. Decoding is strict about dag-pb and
lenient about UnixFS fields that a file reader does not need (mode, mtime, ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

__all__ = [
    "UNIXFS_FILE",
    "UNIXFS_RAW",
    "DagPbNode",
    "FileNodeData",
    "NodeFormatError",
    "PbLink",
    "decode_file_data",
    "decode_node",
    "encode_file_node",
    "encode_varint",
]

UNIXFS_RAW: Final = 0
UNIXFS_FILE: Final = 2

_VARINT: Final = 0
_FIXED64: Final = 1
_LEN: Final = 2
_FIXED32: Final = 5


class NodeFormatError(ValueError):
    """Bytes that are not a well-formed dag-pb node or UnixFS file node (callers add the CID)."""


@dataclass(frozen=True, slots=True)
class PbLink:
    """A dag-pb link: the child's binary CID, its name and the cumulative size of its DAG."""

    cid: bytes
    name: str
    tsize: int


@dataclass(frozen=True, slots=True)
class DagPbNode:
    """A decoded dag-pb node: links in order, then the opaque Data bytes (UnixFS)."""

    links: tuple[PbLink, ...]
    data: bytes | None


@dataclass(frozen=True, slots=True)
class FileNodeData:
    """The UnixFS message of a file node: inline bytes, total size and each child's size."""

    kind: int
    data: bytes
    filesize: int | None
    blocksizes: tuple[int, ...]


def encode_varint(value: int) -> bytes:
    """An unsigned LEB128 varint, as protobuf and the multiformats (CAR sections) use it."""
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise NodeFormatError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift >= 64:
            raise NodeFormatError("varint longer than 64 bits")


def _fields(buf: bytes) -> list[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) for each field; skips fixed-width values."""
    out: list[tuple[int, int, int | bytes]] = []
    pos = 0
    while pos < len(buf):
        key, pos = _read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise NodeFormatError("field number 0")
        if wire == _VARINT:
            value, pos = _read_varint(buf, pos)
            out.append((number, wire, value))
        elif wire == _LEN:
            length, pos = _read_varint(buf, pos)
            if pos + length > len(buf):
                raise NodeFormatError("truncated length-delimited field")
            out.append((number, wire, buf[pos : pos + length]))
            pos += length
        elif wire in (_FIXED64, _FIXED32):
            pos += 8 if wire == _FIXED64 else 4
            if pos > len(buf):
                raise NodeFormatError("truncated fixed-width field")
        else:
            raise NodeFormatError(f"unsupported wire type {wire}")
    return out


def encode_file_node(links: Sequence[PbLink], blocksizes: Sequence[int]) -> bytes:
    """A UnixFS `File` node over `links` (no inline data), as Kubo's balanced importer writes it."""
    unixfs = bytearray(b"\x08\x02")  # Type = File
    unixfs += b"\x18" + encode_varint(sum(blocksizes))  # filesize
    for size in blocksizes:
        unixfs += b"\x20" + encode_varint(size)  # blocksizes (proto2 repeated, unpacked)
    node = bytearray()
    for link in links:
        name = link.name.encode()
        body = b"\x0a" + encode_varint(len(link.cid)) + link.cid
        body += b"\x12" + encode_varint(len(name)) + name
        body += b"\x18" + encode_varint(link.tsize)
        node += b"\x12" + encode_varint(len(body)) + body
    node += b"\x0a" + encode_varint(len(unixfs)) + unixfs
    return bytes(node)


def decode_node(block: bytes) -> DagPbNode:
    """Decode a dag-pb node; only fields 1 (Data) and 2 (Links) are allowed, as the spec says."""
    links: list[PbLink] = []
    data: bytes | None = None
    for number, wire, value in _fields(block):
        if wire != _LEN or not isinstance(value, bytes):
            raise NodeFormatError(f"dag-pb field {number} has wire type {wire}")
        if number == 2:
            if data is not None:
                raise NodeFormatError("dag-pb Links after Data")
            links.append(_decode_link(value))
        elif number == 1:
            if data is not None:
                raise NodeFormatError("dag-pb Data twice")
            data = value
        else:
            raise NodeFormatError(f"unknown dag-pb field {number}")
    return DagPbNode(tuple(links), data)


def _decode_link(buf: bytes) -> PbLink:
    cid: bytes | None = None
    name = ""
    tsize = 0
    for number, wire, value in _fields(buf):
        if number == 1 and isinstance(value, bytes):
            cid = value
        elif number == 2 and isinstance(value, bytes):
            try:
                name = value.decode()
            except UnicodeDecodeError as exc:
                raise NodeFormatError("link name is not UTF-8") from exc
        elif number == 3 and isinstance(value, int):
            tsize = value
        else:
            raise NodeFormatError(f"unexpected dag-pb link field {number} (wire type {wire})")
    if cid is None:
        raise NodeFormatError("dag-pb link without Hash")
    return PbLink(cid, name, tsize)


def decode_file_data(data: bytes) -> FileNodeData:
    """Decode the UnixFS message of a file node (`File` or `Raw`); other kinds are refused."""
    kind: int | None = None
    inline = b""
    filesize: int | None = None
    blocksizes: list[int] = []
    for number, _wire, value in _fields(data):
        if number == 1 and isinstance(value, int):
            kind = value
        elif number == 2 and isinstance(value, bytes):
            inline = value
        elif number == 3 and isinstance(value, int):
            filesize = value
        elif number == 4 and isinstance(value, int):
            blocksizes.append(value)
        elif number in (1, 2, 3, 4):
            raise NodeFormatError(f"UnixFS field {number} has the wrong wire type")
    if kind not in (UNIXFS_FILE, UNIXFS_RAW):
        raise NodeFormatError(f"UnixFS node of type {kind} is not a file")
    return FileNodeData(kind, inline, filesize, tuple(blocksizes))
