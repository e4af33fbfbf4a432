"""The consent index's patient rows: address <-> dense integer row, matched case-insensitively.

Addresses are kept as given (`chain/` hands them over checksummed), as one fixed-width array of
42 ASCII bytes (`numpy` dtype `S42`), so a snapshot's address BLOB becomes the array without a
Python string per patient. Look-ups are vectorised:

- a list of `str` is handled 16,384 entries at a time (`_chunk`), each chunk joined and
  encoded into one byte buffer in which each address takes 48 bytes, six commas then its 42
  characters, so that its 40 hex digits are five aligned little-endian 64-bit words (no 40 MB
  temporary is ever allocated and page-faulted; instead of a `len` per string, the separators
  are checked, and only the rows not confirmed are searched for a stray comma); the chunk
  copied for the caller's memo (`lookup_keeping`) is copied right before it is joined;
- a hash of the last 16 hex digits in any case (`| 0x20` on each byte, two multiplications)
  picks a slot in an open-addressing table (linear probing over a power of two of at least
  twice the patients, built when the rows are made and extended as patients are added); each
  32-bit slot holds the row + 1 and, above it, the hash bits the slot number does not already
  give, so a look-up is mostly one gather;
- each hit is confirmed on all 40 hex digits (one gather of the row's 40 bytes and a compare of
  the bytes as given; where they differ, e.g. in case only, the case-folded bytes are compared:
  `0x20` set only in bytes that have `0x40`, so A-F and X become a-f and x while digits and
  control bytes stay as they are), and on the "0x" prefix, so a hash collision or a malformed
  entry is a miss, never a wrong row.

No dictionary of a million strings is built, on open or on the first look-up. Written with numpy
by hand rather than with a hash-table library: the look-up must take a list of a million `str`
and answer in tens of milliseconds, which rules out any per-string Python work, and no maintained
library offers a vectorised numpy hash table with a custom confirmation.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = ["ADDRESS_LEN", "Chunked", "PatientRows", "chunked"]

ADDRESS_LEN: Final = 42
_HEX: Final = "V40"  # an address's 40 hex digits, compared as raw bytes
_SEP: Final = ",,,,,,"  # 6 + 42 = 48 bytes an address: the hex digits start 8-byte aligned
_STRIDE: Final = len(_SEP) + ADDRESS_LEN
_CHUNK: Final = 16384  # addresses at a time (786 kB: in a 1 MB L2; 4,096 cost ~15% more)
_COMMA: Final = np.uint8(ord(","))
_SEP_MASK: Final = np.uint64((1 << 48) - 1)
_SEP_BITS: Final = np.uint64(int.from_bytes(_SEP.encode(), "little"))
_HEAD: Final = np.uint64(int.from_bytes((_SEP + "0x").encode(), "little"))
_PREFIX: Final = np.uint64(int.from_bytes(b"0x", "little"))
_FOLD_BITS: Final = np.uint64(0x4040_4040_4040_4040)
_LOWER: Final = np.uint64(0x2020_2020_2020_2020)
_MIX: Final = (np.uint64(0x9E37_79B9_7F4A_7C15), np.uint64(0xC2B2_AE3D_27D4_EB4F))  # odd
_MAX_BITS: Final = 31  # 2**bits slots of 32 bits: the row + 1 in `bits` bits, a tag above
_U32 = npt.NDArray[np.uint32]
_U64 = npt.NDArray[np.uint64]
_I64 = npt.NDArray[np.int64]
_IntP = npt.NDArray[np.intp]
_BoolA = npt.NDArray[np.bool_]
_Hex = npt.NDArray[np.void]
_Later = tuple[_I64, _IntP, _U32, _Hex]
Chunked = tuple[tuple[str, ...], ...]
"""A list of addresses copied in chunks of `_CHUNK` (`chunked`): equal lists give equal values."""


def chunked(patients: Sequence[str]) -> Chunked:
    """`patients` copied, `_CHUNK` at a time (`PatientRows.lookup_keeping` copies as it goes)."""
    return tuple(tuple(patients[s : s + _CHUNK]) for s in range(0, len(patients), _CHUNK))


def _chunk(part: Sequence[str]) -> tuple[_U64, _BoolA | None] | None:
    """`part` as a (k, 6) uint64 array, each row six commas then 42 characters (word 0 ends
    with the two-character prefix; words 1-5 are the 40 hex digits), and which entries start
    with "0x" in any case (None: all, as "0x"); None unless the entries are ASCII `str` that
    join into k such rows.

    Joined with the separator before each entry instead of measuring each entry (a million
    `len` calls cost as much as the join). The rows then are the entries exactly when no row
    has a comma after its separator (the separators supply all the commas at the row starts):
    `_find` checks that for the rows it does not confirm (a confirmed row holds "0x" and 40
    stored hex digits, so no comma), and `_has_comma` is that check."""
    try:
        encoded = (_SEP + _SEP.join(part)).encode("ascii")
    except (TypeError, UnicodeEncodeError):
        return None
    if len(encoded) != _STRIDE * len(part):
        return None
    layout: _U64 = np.frombuffer(encoded, np.uint64).reshape(-1, _STRIDE // 8)
    head = layout[:, 0]
    if (head == _HEAD).all():
        return layout, None
    if ((head & _SEP_MASK) != _SEP_BITS).any():
        return None
    return layout, _fold(head >> np.uint64(48)) == _PREFIX


def _has_comma(rows: _U64) -> bool:
    """Whether any of these `_chunk` rows has a comma after its six-comma separator (then some
    entry of the chunk was not 42 characters long)."""
    return bool((rows.view(np.uint8)[:, len(_SEP) :] == _COMMA).any())


def _hex_of(layout: _U64) -> _Hex:
    """The hex digits of each row of a `_chunk` (a strided view, no copy)."""
    return np.ndarray((layout.shape[0],), _HEX, layout, offset=8, strides=(_STRIDE,))


def _fold(words: _U64) -> _U64:
    """Each byte with `0x40` set gets `0x20` too (A-F, X -> a-f, x; digits unchanged)."""
    folded: _U64 = words | ((words & _FOLD_BITS) >> np.uint64(1))
    return folded


def _folded_hex(digits: _Hex) -> _Hex:
    """Hex digits (a contiguous V40 array) case-folded."""
    return _fold(digits.view(np.uint64)).view(_HEX)


def _hash(third: _U64, fourth: _U64) -> _U32:
    """A 32-bit hash of the 4th and 5th words of hex digits (the last 16 digits, in any case:
    `| 0x20` lower-cases every letter, and the confirmation is exact): the top half of the
    sum of two multiplications by odd constants (whose top bits depend on every input bit)."""
    mixed = ((third | _LOWER) * _MIX[0]) ^ ((fourth | _LOWER) * _MIX[1])
    top: _U32 = (mixed >> np.uint64(32)).astype(np.uint32)
    return top


def _parsed(
    addresses: npt.NDArray[np.bytes_] | Sequence[str],
) -> tuple[npt.NDArray[np.bytes_], _Hex]:
    """The addresses as a contiguous S42 array and their hex digits (a V40 array)."""
    if isinstance(addresses, np.ndarray):
        given = np.ascontiguousarray(addresses.astype(f"S{ADDRESS_LEN}", copy=False))
        flat = given.view(np.uint8)  # 1 MB at a time: no 42 MB temporary
        if any((flat[s : s + (1 << 20)] == _COMMA).any() for s in range(0, flat.size, 1 << 20)):
            raise ValueError("patient addresses hold no comma")  # `_find` relies on it
    else:
        parts = [np.empty(0, f"S{ADDRESS_LEN}")]
        for start in range(0, len(addresses), _CHUNK):
            chunk = _chunk(addresses[start : start + _CHUNK])
            if chunk is None or _has_comma(chunk[0]):
                raise ValueError("patient addresses are 42-character ASCII strings")
            layout = chunk[0]
            parts.append(
                np.ndarray(
                    (layout.shape[0],), f"S{ADDRESS_LEN}", layout, len(_SEP), (_STRIDE,)
                ).copy()
            )
        given = np.concatenate(parts)
    if given.size == 0:
        return given, np.empty(0, _HEX)
    if (np.ndarray(given.shape, "S2", given, strides=(ADDRESS_LEN,)) != b"0x").any():
        raise ValueError('patient addresses start with "0x"')
    digits: _Hex = np.ndarray(given.shape, _HEX, given, offset=2, strides=(ADDRESS_LEN,))
    return given, digits.copy()


class PatientRows:
    """Dense rows for patient addresses; rows never change once assigned."""

    def __init__(self, addresses: npt.NDArray[np.bytes_] | Sequence[str] = ()) -> None:
        """Rows for `addresses` (row = position), each "0x" and 40 ASCII characters. An address
        given twice (in any case) keeps both rows; a look-up answers the first."""
        self._given, self._hex = _parsed(addresses)
        self._pending: list[str] = []
        self._build(self._given.size)

    def _build(self, count: int) -> None:
        """A fresh table for the first `count` rows, at least four slots a row."""
        bits = int(max(4, np.ceil(np.log2(max(count, 1))) + 2))
        if bits > _MAX_BITS:
            raise ValueError(f"at most {2 ** (_MAX_BITS - 2):,} patients in one index")
        self._bits = bits
        self._slots: _U32 = np.zeros(1 << bits, dtype=np.uint32)
        self._insert(np.arange(count, dtype=np.int64), fresh=True)

    def _hashes(self, third: _U64, fourth: _U64) -> tuple[_IntP, _U32]:
        """Each address's first slot (the hash's top bits) and its tag (the other bits),
        shifted above the row bits of a slot."""
        hashed = _hash(third, fourth)
        slot = (hashed >> np.uint32(32 - self._bits)).astype(np.intp)
        return slot, hashed << np.uint32(self._bits)

    def _insert(self, rows: _I64, *, fresh: bool = False) -> None:
        """Put `rows` into the table, all at once: each round writes every row still waiting
        into its slot if that slot is empty (0; a slot holds the tag and the row + 1; numpy
        applies a repeated index in order, and the rows go in reversed, so the lowest row wins
        a slot several want), and the rest move on to the next slot. A row only moves past
        occupied slots, so a look-up that stops at the first empty slot never misses it."""
        words = self._hex[rows].view(np.uint64).reshape(-1, 5)
        slot, tagged = self._hashes(words[:, 3], words[:, 4])
        entry = tagged | (rows + 1).astype(np.uint32)
        mask = self._slots.size - 1
        free = None if fresh else self._slots[slot] == 0  # None: every slot is free
        while slot.size:
            if free is None:
                self._slots[slot[::-1]] = entry[::-1]
                waiting = self._slots[slot] != entry
            else:
                self._slots[slot[free][::-1]] = entry[free][::-1]
                waiting = ~free | (self._slots[slot] != entry)
            slot, entry = (slot[waiting] + 1) & mask, entry[waiting]
            free = self._slots[slot] == 0

    def __len__(self) -> int:
        return self._given.size + len(self._pending)

    def joined(self) -> bytes:
        """Every address, by row, as one ASCII string of 42 bytes each (the snapshot's form)."""
        self._merge()
        return self._given.tobytes()

    def address(self, row: int) -> str:
        """The address at `row`, as first seen."""
        self._merge()
        return bytes(self._given[row]).decode("ascii")

    def row(self, address: str) -> int:
        """The row of `address` in any case; -1 if never seen."""
        return int(self.lookup([address])[0])

    def lookup(self, patients: Sequence[str]) -> _I64:
        """Each address's row (any case); -1 for one never seen or not an address string."""
        return self.lookup_keeping(patients)[0]

    def lookup_keeping(self, patients: Sequence[str]) -> tuple[_I64, Chunked]:
        """`lookup`, and `patients` copied as `chunked` would copy them: each chunk is copied
        right before it is joined, while its strings are in the cache (a `tuple` of a million
        strings taken before the look-up reads each string from memory a second time)."""
        self._merge()
        kept: list[tuple[str, ...]] = []
        parts = (tuple(patients[s : s + _CHUNK]) for s in range(0, len(patients), _CHUNK))
        found = self._find(parts, kept, len(patients))
        if found is not None:
            return found, tuple(kept)
        return self._lookup_loose(patients), chunked(patients)

    def lookup_chunks(self, chunks: Chunked) -> _I64:
        """`lookup` of the addresses `chunked` returned."""
        self._merge()
        found = self._find(chunks, None, sum(map(len, chunks)))
        if found is not None:
            return found
        return self._lookup_loose([p for chunk in chunks for p in chunk])

    def _lookup_loose(self, patients: Sequence[str]) -> _I64:
        """`lookup` when some entry is not a 42-character ASCII str: those that are."""
        good = [
            i
            for i, p in enumerate(patients)
            if isinstance(p, str) and len(p) == ADDRESS_LEN and p.isascii()
        ]
        rows = np.full(len(patients), -1, dtype=np.int64)
        checked = self._find(
            (tuple(patients[i] for i in good[s : s + _CHUNK]) for s in range(0, len(good), _CHUNK)),
            None,
            len(good),
            lengths_checked=True,
        )
        if checked is not None:  # always: each entry was measured
            rows[good] = checked
        return rows

    def _find(
        self,
        chunks: Iterable[Sequence[str]],
        kept: list[tuple[str, ...]] | None,
        count: int,
        *,
        lengths_checked: bool = False,
    ) -> _I64 | None:
        """The row of each address of `chunks` (`count` in all; -1: none), or None unless each
        is a 42-character ASCII str; each chunk is appended to `kept` if given. Each address
        probes its first slot; the few that must go on probing are collected and go on together
        (`_probe_on`)."""
        found = np.full(count, -1, dtype=np.int64)
        later: list[_Later] = []
        start = 0
        for part in chunks:
            if kept is not None:
                kept.append(tuple(part))
            chunk = _chunk(part)
            if chunk is None:
                return None
            layout, prefixed = chunk
            if self._given.size == 0:
                if not lengths_checked and _has_comma(layout):
                    return None
                start += len(part)
                continue
            slot, tagged = self._hashes(layout[:, 4], layout[:, 5])
            digits = _hex_of(layout)
            row, same, going = self._probe(slot, tagged, digits)
            if prefixed is not None:  # "0X", or not "0x" at all
                same &= prefixed
                going &= prefixed
            if not lengths_checked and not same.all() and _has_comma(layout[~same]):
                return None  # some entry is not 42 characters long
            found[start : start + layout.shape[0]] = np.where(same, row, -1)
            if going.any():
                again = np.flatnonzero(going)
                later.append((again + start, slot[again], tagged[again], digits[again]))
            start += len(part)
        if later:
            self._probe_on(found, *(np.concatenate(column) for column in zip(*later, strict=True)))
        return found

    def _probe_on(self, found: _I64, at: _I64, slot: _IntP, tagged: _U32, digits: _Hex) -> None:
        """Probe the next slots of the addresses `at` until each is found or meets an empty
        slot (sets `found`)."""
        mask = self._slots.size - 1
        while at.size:
            slot = (slot + 1) & mask
            row, same, going = self._probe(slot, tagged, digits)
            found[at[same]] = row[same]
            at, slot, tagged, digits = at[going], slot[going], tagged[going], digits[going]

    def _probe(self, slot: _IntP, tagged: _U32, digits: _Hex) -> tuple[_U32, _BoolA, _BoolA]:
        """For each address at `slot`: the slot's row, whether it is the address (tag, then all
        40 hex digits as given, then case-folded where only they differ) and whether the look-up
        must go on (it is not, and the slot is occupied)."""
        entry = self._slots[slot]
        row = (entry ^ tagged) - np.uint32(1)  # the row where the tag matches
        candidate = row < np.uint32((1 << self._bits) - 1)
        same = candidate & (np.take(self._hex, row, mode="clip") == digits)
        loose = candidate ^ same  # the tag matches, the bytes differ
        if loose.any():  # e.g. the same address in another case
            at = np.flatnonzero(loose)
            same[at] = _folded_hex(self._hex[row[at]]) == _folded_hex(digits[at])
        return row, same, (entry != 0) ^ same  # a slot that is the address is occupied

    def add(self, addresses: Iterable[str]) -> None:
        """Append new patients (the caller checked they are new) at the next rows."""
        self._pending.extend(addresses)

    def _merge(self) -> None:
        """Fold the addresses added since the last look-up into the table (inserted, or a new
        table once it would be over half full)."""
        if not self._pending:
            return
        given, digits = _parsed(self._pending)
        self._pending = []
        first = self._given.size
        self._given = np.concatenate([self._given, given])
        self._hex = np.concatenate([self._hex, digits])
        if 2 * self._given.size > self._slots.size:
            self._build(self._given.size)
        else:
            self._insert(np.arange(first, self._given.size, dtype=np.int64))
