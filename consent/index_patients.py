"""The consent index's patient rows: address <-> dense integer row, matched case-insensitively.

Addresses are kept as given (`chain/` hands them over checksummed), as one fixed-width array of
42 ASCII bytes (`numpy` dtype `S42`), so a snapshot's address BLOB becomes the array without a
Python string per patient. Look-ups are vectorised: every address is reduced to a 64-bit key (its
first 16 hex digits, read case-insensitively with integer arithmetic on the ASCII bytes), the
keys are found in a sorted key array with `np.searchsorted`, and each hit is confirmed by
comparing the whole lower-cased address (so a key collision or a malformed entry is a miss, never
a wrong row). No dictionary of a million strings is built, on open or on the first look-up.

Written with numpy by hand rather than with a hash-table library: the look-up must take a list
of a million `str` and answer in tens of milliseconds, which rules out any per-string Python work.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = ["ADDRESS_LEN", "PatientRows"]

ADDRESS_LEN: Final = 42
_KEY_DIGITS: Final = 16
_LOWER: Final = np.uint8(0x20)
_COMMA: Final = np.uint8(ord(","))
_U8 = npt.NDArray[np.uint8]
_I64 = npt.NDArray[np.int64]
_BoolA = npt.NDArray[np.bool_]


def _as_matrix(addresses: Sequence[str]) -> _U8 | None:
    """`addresses` as an (n, 42) byte matrix (a view, no copy), or None unless every entry is a
    42-character ASCII str.

    Joins them with commas instead of measuring each (a million `len` calls cost as much as the
    join): the joined bytes have the length of n 42-byte entries exactly when, in addition,
    every 43rd byte is a comma and there are no other commas (then the separators, which are
    commas, sit exactly there, so each entry has 42 characters)."""
    count = len(addresses)
    if count == 0:
        return np.empty((0, ADDRESS_LEN), dtype=np.uint8)
    try:
        joined = ",".join(addresses).encode("ascii")
    except (TypeError, UnicodeEncodeError):
        return None
    if len(joined) != (ADDRESS_LEN + 1) * count - 1:
        return None
    flat = np.frombuffer(joined, dtype=np.uint8)
    if np.count_nonzero(flat == _COMMA) != count - 1:
        return None
    if (flat[ADDRESS_LEN :: ADDRESS_LEN + 1] != _COMMA).any():
        return None
    matrix: _U8 = np.lib.stride_tricks.as_strided(
        flat, shape=(count, ADDRESS_LEN), strides=(ADDRESS_LEN + 1, 1), writeable=False
    )
    return matrix


def _as_bytes(addresses: Sequence[str]) -> npt.NDArray[np.bytes_] | None:
    """`addresses` as one S42 array, or None unless every entry is a 42-character ASCII str."""
    matrix = _as_matrix(addresses)
    if matrix is None:
        return None
    return np.ascontiguousarray(matrix).view(f"S{ADDRESS_LEN}").ravel()


def _lowered(array: npt.NDArray[np.bytes_] | _U8) -> _U8:
    """The addresses' bytes (an S42 array or an (n, 42) byte matrix), lower-cased ((n, 42)
    uint8; `| 0x20` lower-cases A-F and X and leaves digits as they are)."""
    matrix: _U8 = array.view(np.uint8).reshape(-1, ADDRESS_LEN)  # a view of either
    return matrix | _LOWER


def _keys(lowered: _U8) -> npt.NDArray[np.uint64]:
    """The first 16 hex digits of each lowered address as an unsigned 64-bit number: each ASCII
    digit becomes its nibble (`(c & 15) + 9 * (c >> 6)`: '0'-'9' and 'a'-'f'), pairs of nibbles
    become bytes, and 8 bytes are read as one big-endian word (all in uint8, no Python loop)."""
    digits = lowered[:, 2 : 2 + _KEY_DIGITS]
    nibbles = (digits & np.uint8(0x0F)) + np.uint8(9) * (digits >> np.uint8(6))
    packed = np.ascontiguousarray((nibbles[:, 0::2] << np.uint8(4)) | nibbles[:, 1::2])
    return packed.view(">u8").ravel().astype(np.uint64)


def _sorts(order: _I64, keys: npt.NDArray[np.uint64]) -> bool:
    """Whether `order` is a permutation of the rows that puts `keys` in ascending order."""
    if order.shape != keys.shape or order.dtype != np.int64:
        return False
    if order.size and (order.min() < 0 or order.max() >= keys.size):
        return False
    if np.bincount(order, minlength=keys.size).max(initial=1) != 1:
        return False
    ranked = keys[order]
    return bool(np.all(ranked[1:] >= ranked[:-1]))


class PatientRows:
    """Dense rows for patient addresses; rows never change once assigned."""

    def __init__(
        self,
        addresses: npt.NDArray[np.bytes_] | Sequence[str] = (),
        order: _I64 | None = None,
    ) -> None:
        """Rows for `addresses` (row = position); `order` is a saved `self.order` for them,
        which spares the sort (checked: a wrong one is ignored, never trusted)."""
        given = addresses if isinstance(addresses, np.ndarray) else _as_bytes(addresses)
        if given is None:
            raise ValueError("patient addresses are 42-character ASCII strings")
        self._given = given.astype(f"S{ADDRESS_LEN}", copy=False)
        self._lower = _lowered(self._given)
        keys = _keys(self._lower)
        if order is None or not _sorts(order, keys):
            order = np.argsort(keys).astype(np.int64)
        self._order: _I64 = order
        self._sorted = keys[self._order]
        self._pending: list[str] = []
        self._bucket()

    def _bucket(self) -> None:
        """Where each bucket of keys (their top bits; ~4 buckets a key) starts in the sorted
        keys: a look-up reads its bucket's first key instead of binary-searching a million
        (addresses are hashes, so keys spread evenly)."""
        bits = int(min(26, max(8, np.ceil(np.log2(max(self._sorted.size, 1))) + 2)))
        self._shift = np.uint64(64 - bits)
        counts = np.bincount((self._sorted >> self._shift).astype(np.int64), minlength=1 << bits)
        self._starts: _I64 = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    def __len__(self) -> int:
        return self._given.size + len(self._pending)

    @property
    def order(self) -> _I64:
        """The rows sorted by key (what a snapshot keeps so that reopening does not sort)."""
        self._merge()
        return self._order

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
        self._merge()
        query = _as_matrix(patients)
        if query is None:  # some entry is not a 42-character string: look them up one by one
            rows = np.full(len(patients), -1, dtype=np.int64)
            for i, patient in enumerate(patients):
                one = _as_matrix([patient]) if isinstance(patient, str) else None
                if one is not None:
                    rows[i] = self._find(_lowered(one))[0]
            return rows
        return self._find(_lowered(query))

    def _find(self, lowered: _U8) -> _I64:
        if self._sorted.size == 0:
            return np.full(lowered.shape[0], -1, dtype=np.int64)
        keys = _keys(lowered)
        bucket = (keys >> self._shift).astype(np.int64)
        first, end = self._starts[bucket], self._starts[bucket + 1]
        at = np.minimum(first, self._sorted.size - 1)
        same_key = (first < end) & (self._sorted[at] == keys)
        self._walk(np.flatnonzero(~same_key & (end - first > 1)), keys, at, end, same_key)
        rows = self._order[at]
        whole = f"S{ADDRESS_LEN}"
        hit = same_key & (self._lower.view(whole).ravel()[rows] == lowered.view(whole).ravel())
        found = np.where(hit, rows, -1)
        for i in np.flatnonzero(same_key & ~hit).tolist():  # 16 equal leading digits
            found[i] = self._scan(int(at[i]), keys[i], lowered[i])
        return found

    def _walk(
        self, crowded: _I64, keys: npt.NDArray[np.uint64], at: _I64, end: _I64, same: _BoolA
    ) -> None:
        """For keys in a bucket of several whose first key is not theirs, step through the
        bucket (a few keys: vectorised steps over the shrinking rest, no binary search over a
        million), setting `at` and `same` where the key is found."""
        pos = at[crowded] + 1
        while crowded.size:
            inside = pos < end[crowded]
            crowded, pos = crowded[inside], pos[inside]
            stored = self._sorted[pos]
            wanted = keys[crowded]
            hit = stored == wanted
            at[crowded[hit]] = pos[hit]
            same[crowded[hit]] = True
            further = stored < wanted  # the keys are sorted: past it means absent
            crowded, pos = crowded[further], pos[further] + 1

    def _scan(self, start: int, key: np.uint64, lowered: _U8) -> int:
        i = start
        while i < self._sorted.size and self._sorted[i] == key:
            row = int(self._order[i])
            if (self._lower[row] == lowered).all():
                return row
            i += 1
        return -1

    def add(self, addresses: Iterable[str]) -> None:
        """Append new patients (the caller checked they are new) at the next rows."""
        self._pending.extend(addresses)

    def _merge(self) -> None:
        """Fold the addresses added since the last look-up into the sorted keys (one linear
        `np.insert`, not a re-sort)."""
        if not self._pending:
            return
        added = _as_bytes(self._pending)
        if added is None:
            raise ValueError("patient addresses are 42-character ASCII strings")
        self._pending = []
        first = self._given.size
        lowered = _lowered(added)
        keys = _keys(lowered)
        order = np.argsort(keys)
        at = np.searchsorted(self._sorted, keys[order], side="right")
        self._sorted = np.insert(self._sorted, at, keys[order])
        self._order = np.insert(self._order, at, first + order.astype(np.int64))
        self._given = np.concatenate([self._given, added])
        self._lower = np.concatenate([self._lower, lowered])
        self._bucket()
