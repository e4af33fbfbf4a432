"""Per-study event columns of the consent index and the vectorized "latest event at block b".

Events are kept in position order as numpy columns, each linked to the same patient's previous
event (`prev`), with `last[row]` pointing at each patient's latest. Appending a batch links it in
with a stable sort by row; a query walks `prev` back only for patients with events after the
queried block, so asking about the current block costs a few gathers whatever the history length.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = ["BoolArray", "Int64Array", "StudyEvents"]

Int64Array = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(slots=True)
class StudyEvents:
    """One study's events in position order, as columns, with per-patient chains."""

    block: Int64Array = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    grant: BoolArray = field(default_factory=lambda: np.empty(0, dtype=np.bool_))
    expires_at: Int64Array = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    hospital: npt.NDArray[np.int32] = field(default_factory=lambda: np.empty(0, dtype=np.int32))
    purposes: Int64Array = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    valid_from: Int64Array = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    prev: Int64Array = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    last: Int64Array = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    def append(
        self,
        rows: Int64Array,
        block: Int64Array,
        grant: BoolArray,
        expires_at: Int64Array,
        hospital: npt.NDArray[np.int32],
        purposes: Int64Array,
        valid_from: Int64Array,
        narrow: BoolArray,
    ) -> None:
        """Append events (already in position order) and link each to its patient's previous one.

        A narrowing (purposes withdrawn) keeps the validity period of the grant before it: its
        `expires_at` / `valid_from` are copied from the patient's previous event, in order (a
        Python loop over the narrowings only, which are rare)."""
        if rows.size == 0:
            return
        needed = int(rows.max()) + 1
        if needed > self.last.size:
            grown = np.full(needed, -1, dtype=np.int64)
            grown[: self.last.size] = self.last
            self.last = grown
        index = self.block.size + np.arange(rows.size, dtype=np.int64)
        order = np.argsort(rows, kind="stable")  # per patient, events stay in position order
        by_row = rows[order]
        first = np.ones(rows.size, dtype=np.bool_)
        first[1:] = by_row[1:] != by_row[:-1]
        prev_sorted = np.empty(rows.size, dtype=np.int64)
        prev_sorted[first] = self.last[by_row[first]]
        prev_sorted[~first] = index[order[:-1]][~first[1:]]
        prev = np.empty(rows.size, dtype=np.int64)
        prev[order] = prev_sorted
        final = np.ones(rows.size, dtype=np.bool_)
        final[:-1] = first[1:]
        self.last[by_row[final]] = index[order[final]]
        self.block = np.concatenate([self.block, block])
        self.grant = np.concatenate([self.grant, grant])
        self.expires_at = np.concatenate([self.expires_at, expires_at])
        self.hospital = np.concatenate([self.hospital, hospital])
        self.purposes = np.concatenate([self.purposes, purposes])
        self.valid_from = np.concatenate([self.valid_from, valid_from])
        self.prev = np.concatenate([self.prev, prev])
        for at in index[narrow].tolist():
            before = int(self.prev[at])
            if before >= 0:
                self.expires_at[at] = self.expires_at[before]
                self.valid_from[at] = self.valid_from[before]

    def last_of(self, rows: Int64Array) -> Int64Array:
        """For each row, the index of its latest event (-1: none, or not a row of this study)."""
        if self.last.size == 0:
            return np.full(rows.size, -1, dtype=np.int64)
        known = (rows >= 0) & (rows < self.last.size)
        event: Int64Array = np.where(known, self.last[np.where(known, rows, 0)], -1)
        return event

    def latest(self, rows: Int64Array, block: int, last: Int64Array | None = None) -> Int64Array:
        """For each row, the index of its latest event at or before `block` (-1: none);
        `last` is `last_of(rows)` if already known."""
        event = self.last_of(rows) if last is None else last
        if self.block.size == 0:
            return event
        pending = np.flatnonzero((event >= 0) & (self.block[np.maximum(event, 0)] > block))
        if pending.size:
            event = event.copy()
        while pending.size:  # walk back only where later events exist
            stepped = self.prev[event[pending]]
            event[pending] = stepped
            pending = pending[stepped >= 0]
            pending = pending[self.block[event[pending]] > block]
        return event
