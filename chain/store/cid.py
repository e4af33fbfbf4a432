"""CIDs as this store uses them: CIDv1, SHA-256 multihash, `raw` or `dag-pb` codec, base32 text.

Parsing any textual CID (base32, base58btc, CIDv0 `Qm...`) is py-cid's job (py-cid is already in the
environment through ipfshttpclient's multiaddr). Building CIDs on the hot path is done here: a leaf
CID is a constant 4-byte prefix followed by the SHA-256 digest, and constructing py-cid objects for
each 256 KiB leaf would cost a large fraction of the hashing time itself.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Final

import cid as py_cid  # type: ignore[import-untyped]

from chain.store.errors import InvalidCidError

__all__ = [
    "DAG_PB",
    "RAW",
    "SHA2_256",
    "ContentId",
    "cid_text",
    "parse_cid",
]

RAW: Final = 0x55
"""Multicodec of a raw block (file bytes as they are)."""
DAG_PB: Final = 0x70
"""Multicodec of a dag-pb (protobuf Merkle DAG) node."""
SHA2_256: Final = 0x12
"""Multihash code of SHA-256."""

_CODEC_NAMES: Final = {"raw": RAW, "dag-pb": DAG_PB}
_CIDV1: Final = 0x01
_DIGEST_LEN: Final = 32
_MULTIHASH_PREFIX: Final = bytes((SHA2_256, _DIGEST_LEN))
# All three values are < 0x80, so each varint in the CID prefix is a single byte.
_PREFIXES: Final = {codec: bytes((_CIDV1, codec)) + _MULTIHASH_PREFIX for codec in (RAW, DAG_PB)}


@dataclass(frozen=True, slots=True)
class ContentId:
    """A CIDv1 with a SHA-256 multihash; `binary` is its byte form (as used inside dag-pb links)."""

    codec: int
    digest: bytes

    @classmethod
    def from_binary(cls, data: bytes) -> ContentId:
        """Decode a binary CIDv1 (or CIDv0: a bare SHA-256 multihash, which means dag-pb)."""
        if len(data) == 2 + _DIGEST_LEN and data[:2] == _MULTIHASH_PREFIX:
            return cls(DAG_PB, bytes(data[2:]))
        for codec, prefix in _PREFIXES.items():
            if len(data) == len(prefix) + _DIGEST_LEN and data.startswith(prefix):
                return cls(codec, bytes(data[len(prefix) :]))
        raise InvalidCidError(data.hex(), "not a CIDv0/v1 with a raw or dag-pb SHA-256 multihash")

    @property
    def binary(self) -> bytes:
        """The CIDv1 bytes: version, codec, multihash."""
        return _PREFIXES[self.codec] + self.digest

    @property
    def multihash(self) -> bytes:
        """The multihash bytes: what a block is stored under, whatever the CID version."""
        return _MULTIHASH_PREFIX + self.digest

    def __str__(self) -> str:
        return cid_text(self.binary)


def cid_text(binary_cid: bytes) -> str:
    """Multibase base32 text of a binary CIDv1 (`b` + RFC 4648 base32, lower case, unpadded)."""
    return "b" + base64.b32encode(binary_cid).decode("ascii").lower().rstrip("=")


def parse_cid(text: str) -> ContentId:
    """Parse a textual CID in any multibase (CIDv0 too); only SHA-256 raw/dag-pb CIDs are usable."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidCidError(str(text), "empty")
    own = _own_cid(text)
    if own is not None:
        return own
    try:
        parsed = py_cid.from_string(text.strip())
    except Exception as exc:  # py-cid raises ValueError and its own multibase decoding errors
        raise InvalidCidError(text, str(exc) or type(exc).__name__) from exc
    codec = _CODEC_NAMES.get(parsed.codec)
    if codec is None:
        raise InvalidCidError(text, f"unsupported codec {parsed.codec}")
    multihash = bytes(parsed.multihash)
    if multihash[:2] != _MULTIHASH_PREFIX or len(multihash) != 2 + _DIGEST_LEN:
        raise InvalidCidError(text, "only SHA-256 multihashes can be verified")
    return ContentId(codec, multihash[2:])


def _own_cid(text: str) -> ContentId | None:
    """The CID `text` names when it is exactly as this store writes it (base32 CIDv1, raw or
    dag-pb, SHA-256: `cid_text`), else None (py-cid then parses it).

    Hand-written because py-cid's multibase decoder converts bit by bit in Python (~1 ms per
    CID, paid on every store read); this path decodes with `base64` and accepts only the
    canonical text, re-encoding the result to check it, so it answers exactly what py-cid would.
    """
    if len(text) != _OWN_TEXT_LEN or not text.startswith("b"):
        return None
    body = text[1:].upper()
    try:
        binary = base64.b32decode(body + "=" * (-len(body) % 8))
        parsed = ContentId.from_binary(binary)
    except (ValueError, InvalidCidError):
        return None
    return parsed if cid_text(parsed.binary) == text else None


_OWN_TEXT_LEN: Final = len(cid_text(_PREFIXES[RAW] + bytes(_DIGEST_LEN)))
"""Characters of a base32 CIDv1 with a SHA-256 multihash (raw and dag-pb alike)."""
