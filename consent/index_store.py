"""SQLite persistence behind `consent.index.ConsentIndex`: the applied events and the sync mark.

The database is the source of truth; the index rebuilds its numpy arrays from it when opened. One
table holds every applied event keyed by its chain position, one maps patient addresses to dense
row numbers (shared by all studies), and `meta` keeps the sync state.

Schema 2 adds consent scopes: a grant's DUO `purposes` mask and `valid_from`, and a third event
kind, NARROW (a `PurposesRevoked`: `purposes` holds what remains, `revoked` what was withdrawn).
A schema-1 file (written before scopes, by contracts without them) is refused by name: its events
do not carry purposes, and the index rebuilds from the chain faster than it could be guessed.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from consent.errors import ConsentError
from consent.events import (
    ConsentEvent,
    ConsentGranted,
    ConsentRevoked,
    EventPosition,
    PurposesRevoked,
)
from consent.ids import Address, StudyId

__all__ = [
    "EventColumns",
    "EventRow",
    "IndexSchemaError",
    "IndexStore",
    "event_columns",
    "event_row",
]

SCHEMA_VERSION: Final = 2
GRANT: Final = 1
REVOKE: Final = 0
NARROW: Final = 2
# uint64 expiries above int64 range are "never" in practice; SQLite and numpy hold signed 64 bits
MAX_EXPIRES: Final = 2**63 - 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS patients (row INTEGER PRIMARY KEY, address TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS events (
    block_number INTEGER NOT NULL,
    log_index INTEGER NOT NULL,
    study BLOB NOT NULL,
    kind INTEGER NOT NULL,
    patient_row INTEGER NOT NULL REFERENCES patients(row),
    hospital TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    nonce TEXT NOT NULL,
    tx_hash TEXT NOT NULL,
    block_timestamp INTEGER NOT NULL,
    purposes INTEGER NOT NULL,
    valid_from INTEGER NOT NULL,
    revoked INTEGER NOT NULL,
    PRIMARY KEY (block_number, log_index)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS events_by_patient ON events (study, patient_row);
CREATE INDEX IF NOT EXISTS events_by_hospital ON events (study, hospital, kind, block_number);
CREATE TABLE IF NOT EXISTS snapshot (name TEXT PRIMARY KEY, data BLOB NOT NULL);
"""

# full statements spelled out (no string building): column order matches `EventRow`
_INSERT_EVENT = (
    "INSERT INTO events (study, kind, patient_row, hospital, expires_at, nonce, tx_hash, "
    "block_timestamp, block_number, log_index, purposes, valid_from, revoked) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_SELECT_EVENT_AT = (
    "SELECT study, kind, patient_row, hospital, expires_at, nonce, tx_hash, block_timestamp, "
    "block_number, log_index, purposes, valid_from, revoked FROM events "
    "WHERE block_number = ? AND log_index = ?"
)
_SELECT_HISTORY = (
    "SELECT study, kind, patient_row, hospital, expires_at, nonce, tx_hash, block_timestamp, "
    "block_number, log_index, purposes, valid_from, revoked FROM events "
    "WHERE study = ? AND patient_row = ? ORDER BY block_number, log_index"
)
# several patients at once: their rows as one JSON array parameter (no statement building)
_SELECT_HISTORIES = (
    "SELECT study, kind, patient_row, hospital, expires_at, nonce, tx_hash, block_timestamp, "
    "block_number, log_index, purposes, valid_from, revoked FROM events "
    "WHERE study = ? AND patient_row IN (SELECT value FROM json_each(?)) "
    "ORDER BY patient_row, block_number, log_index"
)
EventRow = tuple[bytes, int, int, str, int, str, str, int, int, int, int, int, int]


class IndexSchemaError(ConsentError, RuntimeError):
    """The index file was written by another schema version: delete it and sync again."""

    def __init__(self, found: int) -> None:
        super().__init__(
            f"consent index schema {found}, this version reads {SCHEMA_VERSION}: delete the "
            "index file, the next sync rebuilds it from the chain"
        )
        self.found = found


@dataclass(frozen=True, slots=True)
class EventColumns:
    """Applied events of all studies as columns, in position order (what the index loads)."""

    study: list[bytes]
    grant: npt.NDArray[np.bool_]
    """True for grants and narrowings (a consent still in force), False for revocations."""
    row: npt.NDArray[np.int64]
    hospital: list[str]
    expires_at: npt.NDArray[np.int64]
    block: npt.NDArray[np.int64]
    purposes: npt.NDArray[np.int64]
    valid_from: npt.NDArray[np.int64]
    narrow: npt.NDArray[np.bool_]
    """Narrowings take their validity from the patient's previous event when loaded."""


def event_row(event: ConsentEvent, patient_row: int) -> EventRow:
    """The `events` table row for `event`."""
    pos = event.position
    purposes = valid_from = revoked = 0
    if isinstance(event, ConsentGranted):
        expires, kind, nonce = min(event.expires_at, MAX_EXPIRES), GRANT, str(event.nonce)
        purposes, valid_from = event.purposes, min(event.valid_from, MAX_EXPIRES)
    elif isinstance(event, PurposesRevoked):
        expires, kind, nonce = 0, NARROW, ""
        purposes, revoked = event.remaining, event.revoked
    else:
        expires, kind, nonce = 0, REVOKE, ""
    return (
        bytes(event.study),
        kind,
        patient_row,
        event.hospital,
        expires,
        nonce,
        event.tx_hash,
        event.block_timestamp,
        pos.block_number,
        pos.log_index,
        purposes,
        valid_from,
        revoked,
    )


def _scope_mask(event: ConsentEvent) -> int:
    """The purposes in force after `event` (0 after a revocation)."""
    if isinstance(event, ConsentGranted):
        return event.purposes
    return event.remaining if isinstance(event, PurposesRevoked) else 0


def event_columns(events: Sequence[ConsentEvent], rows: npt.NDArray[np.int64]) -> EventColumns:
    """Column form of freshly applied events (their patient `rows`), matching what
    `IndexStore.columns` loads."""
    n = len(events)
    return EventColumns(
        study=[bytes(e.study) for e in events],
        grant=np.fromiter((not isinstance(e, ConsentRevoked) for e in events), np.bool_, count=n),
        row=rows,
        hospital=[e.hospital for e in events],
        expires_at=np.fromiter(
            (min(e.expires_at, 2**63 - 1) if isinstance(e, ConsentGranted) else 0 for e in events),
            np.int64,
            count=n,
        ),
        block=np.fromiter((e.position.block_number for e in events), np.int64, count=n),
        purposes=np.fromiter(map(_scope_mask, events), np.int64, count=n),
        valid_from=np.fromiter(
            (min(e.valid_from, 2**63 - 1) if isinstance(e, ConsentGranted) else 0 for e in events),
            np.int64,
            count=n,
        ),
        narrow=np.fromiter((isinstance(e, PurposesRevoked) for e in events), np.bool_, count=n),
    )


def _event_from_row(row: EventRow, patient: Address) -> ConsentEvent:
    study, kind, _, hospital, expires, nonce, tx_hash, timestamp, block, log_index = row[:10]
    purposes, valid_from, revoked = row[10:]
    position = EventPosition(block, log_index)
    if kind == GRANT:
        return ConsentGranted(
            StudyId(study), patient, Address(hospital), expires, int(nonce), position, tx_hash,
            timestamp, purposes, valid_from,
        )  # fmt: skip
    if kind == NARROW:
        return PurposesRevoked(
            StudyId(study), patient, Address(hospital), revoked, purposes, position, tx_hash,
            timestamp,
        )  # fmt: skip
    return ConsentRevoked(StudyId(study), patient, Address(hospital), position, tx_hash, timestamp)


class IndexStore:
    """The SQLite file (or in-memory database) of one consent index."""

    def __init__(self, path: Path | str) -> None:
        """Open or create the database at `path` (":memory:" for a throwaway one)."""
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        if str(path) != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        with self.transaction():
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            self._db.execute(
                "INSERT OR IGNORE INTO meta VALUES ('schema', ?), ('synced_block', -1)",
                (SCHEMA_VERSION,),
            )
        if self.schema_version() != SCHEMA_VERSION:
            found = self.schema_version()
            self._db.close()
            raise IndexSchemaError(found)

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic write: everything inside commits together or not at all."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # --- meta ------------------------------------------------------------------------------

    def schema_version(self) -> int:
        """The schema version the file was created with."""
        return int(self._db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()[0])

    def synced_block(self) -> int:
        """The last block marked fully applied (-1 before the first mark)."""
        row = self._db.execute("SELECT value FROM meta WHERE key = 'synced_block'").fetchone()
        return int(row[0])

    def set_synced_block(self, block: int) -> None:
        """Record `block` as fully applied (call inside a transaction)."""
        self._db.execute("UPDATE meta SET value = ? WHERE key = 'synced_block'", (block,))

    def last_position(self) -> EventPosition | None:
        """The position of the latest applied event."""
        row = self._db.execute(
            "SELECT block_number, log_index FROM events ORDER BY block_number DESC, "
            "log_index DESC LIMIT 1"
        ).fetchone()
        return None if row is None else EventPosition(int(row[0]), int(row[1]))

    # --- patients and events -----------------------------------------------------------------

    def patients(self, from_row: int = 0) -> list[str]:
        """Every patient address from row `from_row` on, indexed by row."""
        return [
            r[0]
            for r in self._db.execute(
                "SELECT address FROM patients WHERE row >= ? ORDER BY row", (from_row,)
            )
        ]

    def add_patients(self, first_row: int, addresses: Sequence[str]) -> None:
        """Insert new patients at rows `first_row`, `first_row + 1`, ... (inside a transaction)."""
        self._db.executemany(
            "INSERT INTO patients (row, address) VALUES (?, ?)",
            ((first_row + i, a) for i, a in enumerate(addresses)),
        )

    def add_events(self, rows: Sequence[EventRow]) -> None:
        """Insert event rows built by `event_row` (inside a transaction)."""
        self._db.executemany(_INSERT_EVENT, rows)

    def event_at(self, position: EventPosition) -> EventRow | None:
        """The stored event row at `position`, if any."""
        row: EventRow | None = self._db.execute(
            _SELECT_EVENT_AT,
            (position.block_number, position.log_index),
        ).fetchone()
        return row

    def columns(self, after: EventPosition | None = None) -> EventColumns:
        """All events (or those after position `after`) as columns, in position order."""
        since = (-1, -1) if after is None else (after.block_number, after.log_index)
        rows = self._db.execute(
            "SELECT study, kind, patient_row, hospital, expires_at, block_number, purposes, "
            "valid_from FROM events WHERE (block_number, log_index) > (?, ?) "
            "ORDER BY block_number, log_index",
            since,
        ).fetchall()
        if not rows:
            empty = np.empty(0, dtype=np.int64)
            no = np.empty(0, dtype=np.bool_)
            return EventColumns([], no, empty, [], empty, empty, empty, empty, no)
        study, kind, row, hospital, expires, block, purposes, valid_from = zip(*rows, strict=True)
        kinds = np.array(kind, dtype=np.int64)
        return EventColumns(
            study=list(study),
            grant=kinds != REVOKE,
            row=np.array(row, dtype=np.int64),
            hospital=list(hospital),
            expires_at=np.array(expires, dtype=np.int64),
            block=np.array(block, dtype=np.int64),
            purposes=np.array(purposes, dtype=np.int64),
            valid_from=np.array(valid_from, dtype=np.int64),
            narrow=kinds == NARROW,
        )

    def snapshot_blobs(self) -> dict[str, bytes]:
        """The stored snapshot's BLOBs by name (`consent.index_snapshot`); empty if none."""
        return {str(n): bytes(d) for n, d in self._db.execute("SELECT name, data FROM snapshot")}

    def write_snapshot(self, blobs: dict[str, bytes]) -> None:
        """Replace the stored snapshot (inside a transaction)."""
        self._db.execute("DELETE FROM snapshot")
        self._db.executemany("INSERT INTO snapshot (name, data) VALUES (?, ?)", blobs.items())

    def history(self, study: StudyId, patient_row: int, patient: Address) -> list[ConsentEvent]:
        """One patient's events in `study`, oldest first."""
        rows = self._db.execute(
            _SELECT_HISTORY,
            (bytes(study), patient_row),
        ).fetchall()
        return [_event_from_row(r, patient) for r in rows]

    def histories(
        self, study: StudyId, patients: dict[int, Address]
    ) -> dict[int, list[ConsentEvent]]:
        """The events in `study` of each patient in `patients` (row -> address) by row, oldest
        first, read with one query; rows without events are left out."""
        rows = self._db.execute(
            _SELECT_HISTORIES,
            (bytes(study), json.dumps(list(patients))),
        ).fetchall()
        found: dict[int, list[ConsentEvent]] = {}
        for r in rows:
            found.setdefault(r[2], []).append(_event_from_row(r, patients[r[2]]))
        return found

    def revoked_rows(self, study: StudyId, hospital: str, after_block: int) -> list[int]:
        """Rows of `hospital`'s patients with a revocation or a withdrawal of purposes in a block
        after `after_block`."""
        rows = self._db.execute(
            "SELECT DISTINCT patient_row FROM events WHERE study = ? AND hospital = ? "
            "AND kind IN (?, ?) AND block_number > ?",
            (bytes(study), hospital, REVOKE, NARROW, after_block),
        ).fetchall()
        return [int(r[0]) for r in rows]

    def same_event(self, stored: EventRow, event: ConsentEvent, patient_row: int) -> bool:
        """Whether a stored row is exactly `event` (for idempotent re-application)."""
        return stored == event_row(event, patient_row)
