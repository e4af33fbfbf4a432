"""CAR v1 (Content Addressable aRchive) files: a header naming the roots, then CID-prefixed blocks.

The header is a DAG-CBOR map `{"roots": [CID, ...], "version": 1}`. Its shape is fixed by the CAR
v1 spec, so rather than pulling in a DAG-CBOR stack for one map, the few CBOR items it uses (map,
text, array, tag 42, byte string, small unsigned int) are written and read here by hand.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from typing import BinaryIO, Final

from chain.store.cid import ContentId
from chain.store.errors import CarFormatError, CorruptArtifactError, InvalidCidError
from chain.store.unixfs import encode_varint

__all__ = ["MAX_SECTION", "CarReader", "write_car"]

MAX_SECTION: Final = 8 * 1024 * 1024
"""Largest header or block section accepted: real IPFS blocks are at most a few MiB."""
_CID_TAG: Final = 42


def _cbor_head(major: int, value: int) -> bytes:
    if value < 24:
        return bytes(((major << 5) | value,))
    for extra, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if value < 1 << (8 * size):
            return bytes(((major << 5) | extra,)) + value.to_bytes(size, "big")
    raise ValueError("CBOR value too large")


def _header(roots: Sequence[ContentId]) -> bytes:
    out = bytearray(_cbor_head(5, 2))  # DAG-CBOR map keys sort by length: "roots" < "version"
    out += _cbor_head(3, 5) + b"roots" + _cbor_head(4, len(roots))
    for root in roots:
        link = b"\x00" + root.binary  # tag 42 holds the CID behind a 0x00 multibase-identity byte
        out += _cbor_head(6, _CID_TAG) + _cbor_head(2, len(link)) + link
    out += _cbor_head(3, 7) + b"version" + _cbor_head(0, 1)
    return bytes(out)


def write_car(
    out: BinaryIO, roots: Sequence[ContentId], blocks: Iterable[tuple[ContentId, bytes]]
) -> int:
    """Write a CAR v1 of `blocks` under `roots` to `out`; returns the number of bytes written."""
    header = _header(roots)
    written = out.write(encode_varint(len(header)) + header)
    for cid, block in blocks:
        binary = cid.binary
        written += out.write(encode_varint(len(binary) + len(block)) + binary)
        written += out.write(block)
    return written


class _Cbor:
    """Just enough of a CBOR decoder for a CAR v1 header (definite lengths, no floats)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _take(self, size: int) -> bytes:
        if self.pos + size > len(self.data):
            raise ValueError("truncated CBOR")
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def item(self, depth: int = 0) -> object:
        if depth > 8:
            raise ValueError("CBOR nested too deeply")
        initial = self._take(1)[0]
        major, extra = initial >> 5, initial & 0x1F
        if extra < 24:
            value = extra
        elif extra <= 27:
            value = int.from_bytes(self._take(1 << (extra - 24)), "big")
        else:
            raise ValueError("indefinite-length or reserved CBOR item")
        if major == 0:
            return value
        if major in (2, 3):
            raw = self._take(value)
            return raw if major == 2 else raw.decode()
        if major == 4:
            return [self.item(depth + 1) for _ in range(value)]
        if major == 5:
            pairs = [(self.item(depth + 1), self.item(depth + 1)) for _ in range(value)]
            return {key: val for key, val in pairs if isinstance(key, str)}
        if major == 6 and value == _CID_TAG:
            link = self.item(depth + 1)
            if not isinstance(link, bytes) or not link.startswith(b"\x00"):
                raise ValueError("malformed CID link")
            return ContentId.from_binary(link[1:])
        raise ValueError(f"unsupported CBOR item (major type {major})")


class CarReader:
    """Reads a CAR v1 stream: `roots` at once, then `blocks()` one by one, each verified."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._offset = 0
        header = self._section()
        if header is None:
            raise CarFormatError("empty file", offset=0)
        try:
            decoded = _Cbor(header).item()
            if not isinstance(decoded, dict) or decoded.get("version") != 1:
                raise ValueError("not a CAR v1 header")
            roots = decoded.get("roots")
            if not isinstance(roots, list) or not all(isinstance(r, ContentId) for r in roots):
                raise ValueError("header roots are not a list of CIDs")
        except (ValueError, UnicodeDecodeError, InvalidCidError) as exc:
            raise CarFormatError(str(exc), offset=self._offset) from exc
        self.roots: tuple[ContentId, ...] = tuple(r for r in roots if isinstance(r, ContentId))

    def _read(self, size: int) -> bytes:
        data = self._stream.read(size)
        self._offset += len(data)
        if len(data) != size:
            raise CarFormatError("truncated section", offset=self._offset)
        return data

    def _section(self) -> bytes | None:
        """The next length-prefixed section, or None at a clean end of stream."""
        length = 0
        for shift in range(0, 64, 7):
            byte = self._stream.read(1)
            if not byte:
                if shift == 0:
                    return None
                raise CarFormatError("truncated length", offset=self._offset)
            self._offset += 1
            length |= (byte[0] & 0x7F) << shift
            if not byte[0] & 0x80:
                break
        else:
            raise CarFormatError("section length varint too long", offset=self._offset)
        if length == 0 or length > MAX_SECTION:
            raise CarFormatError(f"section length {length} out of range", offset=self._offset)
        return self._read(length)

    def blocks(self) -> Iterator[tuple[ContentId, bytes]]:
        """Every block in file order, its bytes checked against its CID."""
        while (section := self._section()) is not None:
            cid_len = 34 if section.startswith(b"\x12\x20") else 36  # CIDv0, or v1 as we parse it
            try:
                cid = ContentId.from_binary(section[:cid_len])
            except InvalidCidError as exc:
                raise CarFormatError(
                    "block CID is not a raw/dag-pb SHA-256 CID", offset=self._offset
                ) from exc
            block = section[cid_len:]
            if hashlib.sha256(block).digest() != cid.digest:
                raise CorruptArtifactError(str(cid), "CAR block bytes do not match their CID")
            yield cid, block
