"""`WordLayout`: an event's data and topics read straight from their 32-byte words.

Hand-written because eth_abi's generic decoder was most of the end audit on anvil (~580 logs a
20-round study: stream objects, a decoder object per value, pointer validation, then
`to_normalized_address` and our checksum again per address; ~55% of a cold audit profiled). Our
events' types are fixed by the contracts we compile, and every value the EVM logs is in the ABI's
canonical layout: static values in 32-byte words (left-padded numbers and addresses,
right-padded `bytesN`), each dynamic value (string, bytes, an array of static values) behind an
offset word, its tail in order. A layout is derived once per event from its ABI types and reads
one canonical encoding with slicing and `int.from_bytes`.

It answers only for the canonical layout it can prove: every padding byte zero, every number in
its type's range, a bool 0 or 1, every offset exactly where `eth_abi.encode` puts it, the data
ending exactly at the last tail, strings valid UTF-8. Anything else (a type it does not know, a
log some other contract wrote with the same topic, a non-canonical but decodable encoding) is
`None`, and the caller decodes with eth_abi, which then answers or raises as before. A parity
test holds it equal to eth_abi on every event of every contract, with random values and with
corrupted data (tests/unit/chain/test_event_words.py).

Values come out normalized as `chain.event_codec` hands them on: addresses checksummed, arrays
as lists, static structs as dicts by field name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from consent.ids import address_from_bytes

__all__ = ["Word", "WordLayout", "read_topic", "word_reader"]

WORD: Final = 32
_ZERO: Final = bytes(WORD)
_UINT: Final = re.compile(r"^uint(\d*)$")
_INT: Final = re.compile(r"^int(\d*)$")
_BYTES_N: Final = re.compile(r"^bytes(\d+)$")
_DYNAMIC_ARRAY: Final = re.compile(r"^(.*)\[\]$")

Word = Callable[[bytes], Any]
"""Reads one 32-byte word as a value; raises `_NotCanonicalError` for a word eth_abi must judge."""


class _NotCanonicalError(Exception):
    """The bytes are not the canonical encoding this layout reads: eth_abi decides."""


def _uint(bits: int) -> Word:
    limit = 1 << bits

    def read(word: bytes) -> int:
        value = int.from_bytes(word, "big")
        if value >= limit:
            raise _NotCanonicalError
        return value

    return read


def _int(bits: int) -> Word:
    low, high = -(1 << (bits - 1)), 1 << (bits - 1)

    def read(word: bytes) -> int:
        value = int.from_bytes(word, "big", signed=True)
        if not low <= value < high:
            raise _NotCanonicalError
        return value

    return read


def _address(word: bytes) -> str:
    if word[:12] != _ZERO[:12]:
        raise _NotCanonicalError
    return address_from_bytes(word[12:])


def _bool(word: bytes) -> bool:
    value = int.from_bytes(word, "big")
    if value > 1:
        raise _NotCanonicalError
    return value == 1


def _bytes_n(size: int) -> Word:
    padding = bytes(WORD - size)

    def read(word: bytes) -> bytes:
        if word[size:] != padding:
            raise _NotCanonicalError
        return word[:size]

    return read


def word_reader(kind: str) -> Word | None:
    """The reader of one static elementary ABI type's word; None for any other type."""
    if kind == "address":
        return _address
    if kind == "bool":
        return _bool
    for pattern, make in ((_UINT, _uint), (_INT, _int)):
        match = pattern.match(kind)
        if match is not None:
            bits = int(match.group(1) or 256)
            return make(bits) if bits % 8 == 0 and 8 <= bits <= 256 else None
    match = _BYTES_N.match(kind)
    if match is not None:
        size = int(match.group(1))
        return _bytes_n(size) if 1 <= size <= WORD else None
    return None


def read_topic(word: Word, topic: bytes) -> tuple[Any] | None:
    """`(value,)` of an indexed value's 32-byte topic in its canonical form; None for eth_abi
    to judge."""
    if len(topic) != WORD:
        return None
    try:
        return (word(topic),)
    except _NotCanonicalError:
        return None


@dataclass(frozen=True, slots=True)
class _Static:
    """A static elementary value (one word) or a static struct of them (one word a field)."""

    words: tuple[Word, ...]
    names: tuple[str, ...] | None  # a struct's field names; None for a single value

    @property
    def size(self) -> int:
        return WORD * len(self.words)

    def read(self, data: bytes, at: int) -> Any:
        values = [w(data[at + WORD * i : at + WORD * (i + 1)]) for i, w in enumerate(self.words)]
        return values[0] if self.names is None else dict(zip(self.names, values, strict=True))


@dataclass(frozen=True, slots=True)
class _Dynamic:
    """A string, bytes, or an array of static elementary values: its tail, read at `at`."""

    kind: str  # "string", "bytes" or "array"
    item: Word | None  # an array's item reader

    def read(self, data: bytes, at: int) -> tuple[Any, int]:
        """The value whose tail starts at `at`, and where its tail ends."""
        length = int.from_bytes(data[at : at + WORD], "big")
        if length > len(data):  # a length no data this size can hold (and no huge slice)
            raise _NotCanonicalError
        start = at + WORD
        if self.item is not None:
            end = start + WORD * length
            if end > len(data):
                raise _NotCanonicalError
            item = self.item
            return [item(data[i : i + WORD]) for i in range(start, end, WORD)], end
        end = start + -(-length // WORD) * WORD
        if end > len(data) or any(data[start + length : end]):
            raise _NotCanonicalError
        raw = data[start : start + length]
        return (raw.decode("utf-8") if self.kind == "string" else raw), end


def _part(param: Mapping[str, Any]) -> _Static | _Dynamic | None:
    kind = str(param["type"])
    if kind in ("string", "bytes"):
        return _Dynamic(kind, None)
    array = _DYNAMIC_ARRAY.match(kind)
    if array is not None:
        item = word_reader(array.group(1))
        return None if item is None else _Dynamic("array", item)
    if kind == "tuple":
        fields = tuple(param["components"])
        words = tuple(word_reader(str(f["type"])) for f in fields)
        if not fields or any(w is None for w in words):
            return None
        return _Static(
            tuple(w for w in words if w is not None), tuple(str(f["name"]) for f in fields)
        )
    word = word_reader(kind)
    return None if word is None else _Static((word,), None)


@dataclass(frozen=True, slots=True)
class WordLayout:
    """How one event's non-indexed values lie in its log's data (canonical ABI layout)."""

    parts: tuple[_Static | _Dynamic, ...]
    head: int

    @classmethod
    def of(cls, params: Sequence[Mapping[str, Any]]) -> WordLayout | None:
        """The layout of `params` (an event's data parameters); None when a type is not one
        this module reads (eth_abi then decodes every log of the event)."""
        parts = tuple(_part(p) for p in params)
        known = tuple(p for p in parts if p is not None)
        if len(known) != len(parts):
            return None
        head = sum(p.size if isinstance(p, _Static) else WORD for p in known)
        return cls(known, head)

    def values(self, data: bytes) -> list[Any] | None:
        """The values in `data`, normalized; None when `data` is not their canonical encoding."""
        if len(data) < self.head:
            return None
        try:
            return self._read(data)
        except (_NotCanonicalError, UnicodeDecodeError):
            return None

    def _read(self, data: bytes) -> list[Any]:
        values: list[Any] = []
        at, tail = 0, self.head
        for part in self.parts:
            if isinstance(part, _Static):
                values.append(part.read(data, at))
                at += part.size
                continue
            if int.from_bytes(data[at : at + WORD], "big") != tail:
                raise _NotCanonicalError
            value, tail = part.read(data, tail)
            values.append(value)
            at += WORD
        if tail != len(data):
            raise _NotCanonicalError
        return values
