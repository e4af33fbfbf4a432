"""The consent index: consent events applied incrementally, asked "consented at block b?" in bulk.

A hospital's trainer keeps one index per deployment. `chain/` decodes `ConsentGranted` /
`ConsentRevoked` logs into `consent.events` values; the index applies them in chain order, persists
them in SQLite (so the next run only syncs the new blocks) and answers mask queries over a million
patients with numpy.

Semantics (the contract's): consent counts at block `b` (whose timestamp is `t`) when the patient's
latest event at or before `b` in that study is a grant (or a withdrawal of some of its purposes),
it is inside its validity period (`valid_from <= t` and `expires_at == 0 or t < expires_at`) and,
when a study purpose is given, its purposes cover it (`consent.purposes`). No event means no
consent (default deny). A re-grant after a revocation counts again from its own block; a
revocation ends consent at its block.

In memory, each study keeps its events in position order as columns (block, grant?, expiry, and
`prev`: the previous event of the same patient) plus `last[row]`, the patient's latest event. A
query starts from `last` and walks `prev` back, vectorized, only for the patients that have events
after `b` — so the usual query at the current block is a handful of gathers.

Patients are dense integer rows shared by all studies. `resolve(addresses)` maps addresses to rows
(callers may cache the result); `mask` takes rows, `consented_at` takes addresses and raises
`UnknownPatientError` for patients without any event in the study.

Patients are matched case-insensitively (`consent.index_patients`). Addresses in events are stored
as given, not re-checksummed (`chain/` produces them checksummed; checksumming a million costs
~20 s). Reopening loads the columns from a snapshot (`consent.index_snapshot`), not from the rows.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Literal

import numpy as np
import numpy.typing as npt

from consent.errors import (
    ConflictingEventError,
    IndexNotSyncedError,
    OutOfOrderEventError,
    UnknownPatientError,
)
from consent.events import (
    ConsentEvent,
    EventPosition,
)
from consent.ids import Address, InvalidIdentifierError, StudyId, parse_address
from consent.index_columns import StudyEvents
from consent.index_patients import Chunked, PatientRows, chunked
from consent.index_snapshot import IndexSnapshot, load_snapshot, store_snapshot
from consent.index_status import ConsentMask, ConsentStatus, status_from_events
from consent.index_store import EventColumns, IndexStore, event_columns, event_row
from consent.purposes import NMDS_BIT, StudyPurpose

__all__ = ["ConsentIndex", "ConsentMask", "ConsentStatus"]

logger = logging.getLogger(__name__)

_ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")
SNAPSHOT_EVERY = 250_000
"""Events applied after which the index stores a fresh snapshot without waiting for `close`."""
_Int64Array = npt.NDArray[np.int64]
_BoolArray = npt.NDArray[np.bool_]


class ConsentIndex:
    """Consent events of every study, persisted in SQLite, queried with numpy."""

    def __init__(self, path: Path | Literal[":memory:"]) -> None:
        """Open (or create) the index stored at `path`; ":memory:" keeps it in memory only."""
        self._lock = threading.RLock()
        self._store = IndexStore(path)
        self._persistent = path != ":memory:"
        self._memo: tuple[Chunked, _Int64Array] | None = None
        self._hospitals: list[str] = []
        self._hospital_codes: dict[str, int] = {}
        self._studies: dict[bytes, StudyEvents] = {}
        self._synced_block = self._store.synced_block()
        self._last_position = self._store.last_position()
        snapshot = load_snapshot(self._store) if self._persistent else None
        self._patients = PatientRows(() if snapshot is None else snapshot.addresses)
        self._patients.add(self._store.patients(len(self._patients)))
        if snapshot is not None:
            for hospital in snapshot.hospitals:
                self._hospital_code(hospital)
            self._studies = snapshot.studies
        tail = self._store.columns(None if snapshot is None else snapshot.position)
        self._snapshot_events = 0 if snapshot is None else snapshot.events
        self._unsnapshotted = tail.row.size
        self._load(tail)
        logger.info(
            "consent index opened: %d patients, %d studies, synced through block %d",
            len(self._patients),
            len(self._studies),
            self._synced_block,
        )

    def save_snapshot(self) -> None:
        """Store the in-memory columns so the next open loads them instead of rebuilding
        (`consent.index_snapshot`); done on `close` and after every `SNAPSHOT_EVERY` events."""
        with self._lock:
            if not self._persistent or self._last_position is None or not self._unsnapshotted:
                return
            snapshot = IndexSnapshot(
                events=self._snapshot_events + self._unsnapshotted,
                position=self._last_position,
                addresses=np.frombuffer(self._patients.joined(), dtype="S42"),
                hospitals=list(self._hospitals),
                studies=self._studies,
            )
            store_snapshot(self._store, snapshot)
            self._snapshot_events, self._unsnapshotted = snapshot.events, 0

    def close(self) -> None:
        """Store a snapshot of the columns if events were applied since the last, and close."""
        try:
            self.save_snapshot()
        finally:
            self._store.close()

    def __enter__(self) -> ConsentIndex:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- sync ------------------------------------------------------------------------------

    @property
    def synced_block(self) -> int:
        """The last block whose events are all applied (-1 before the first `mark_synced`)."""
        return self._synced_block

    @property
    def last_position(self) -> EventPosition | None:
        """Where the latest applied event sits (None for an empty index)."""
        return self._last_position

    def mark_synced(self, block: int) -> None:
        """Record that every event up to and including `block` has been applied."""
        with self._lock:
            if block < self._synced_block:
                raise IndexNotSyncedError(block, self._synced_block)
            with self._store.transaction():
                self._store.set_synced_block(block)
            self._synced_block = block

    def apply(self, events: Iterable[ConsentEvent], *, synced_through: int | None = None) -> int:
        """Apply events in position order; returns how many were new.

        Re-applying an event already applied (same position, same content) changes nothing. An
        event before the last applied one that the index does not hold, or in a block already
        marked synced, raises `OutOfOrderEventError`; one that differs from the stored event at
        its position raises `ConflictingEventError`. The batch is atomic: on error nothing of it
        is applied. `synced_through` additionally marks that block synced, in the same commit.
        """
        with self._lock:
            fresh = self._fresh(events)
            new_addresses: list[str] = []
            new_rows: dict[str, int] = {}
            rows = self._patients.lookup([e.patient for e in fresh])
            for i, event in enumerate(fresh):
                if rows[i] >= 0:
                    continue
                key = event.patient.lower()
                row = new_rows.get(key, -1)
                if row < 0:
                    if not _ADDRESS_RE.match(event.patient):
                        raise InvalidIdentifierError(f"not an address: {event.patient!r}")
                    row = new_rows[key] = len(self._patients) + len(new_addresses)
                    new_addresses.append(event.patient)
                rows[i] = row
            with self._store.transaction():
                self._store.add_patients(len(self._patients), new_addresses)
                self._store.add_events(
                    [event_row(e, int(r)) for e, r in zip(fresh, rows, strict=True)]
                )
                if synced_through is not None:
                    if synced_through < self._synced_block:
                        raise IndexNotSyncedError(synced_through, self._synced_block)
                    self._store.set_synced_block(synced_through)
            self._patients.add(new_addresses)
            if fresh:
                self._last_position = fresh[-1].position
            if synced_through is not None:
                self._synced_block = synced_through
            self._load(event_columns(fresh, rows))
            self._unsnapshotted += len(fresh)
            if self._unsnapshotted >= SNAPSHOT_EVERY:
                self.save_snapshot()
            logger.debug("applied %d consent events (%d new patients)", len(fresh), len(new_rows))
            return len(fresh)

    def _fresh(self, events: Iterable[ConsentEvent]) -> list[ConsentEvent]:
        """The events not applied yet, after checking order and idempotency."""
        fresh: list[ConsentEvent] = []
        stored_last = last = self._last_position
        for event in events:
            position = event.position
            if last is not None and position <= last:
                if stored_last is None or position > stored_last:
                    raise OutOfOrderEventError(position, last, self._synced_block)
                stored = self._store.event_at(position)
                if stored is None:
                    raise OutOfOrderEventError(position, last, self._synced_block)
                if not self._store.same_event(stored, event, self._patients.row(event.patient)):
                    raise ConflictingEventError(position)
                continue
            if position.block_number <= self._synced_block:
                raise OutOfOrderEventError(position, last, self._synced_block)
            fresh.append(event)
            last = position
        return fresh

    def _load(self, columns: EventColumns) -> None:
        """Append event columns (position order) to the per-study arrays."""
        if columns.row.size == 0:
            return
        hospital = np.fromiter(
            map(self._hospital_code, columns.hospital), dtype=np.int32, count=columns.row.size
        )
        studies = np.array(columns.study, dtype=object)
        for study in dict.fromkeys(columns.study):
            take = np.flatnonzero(studies == study)
            self._studies.setdefault(study, StudyEvents()).append(
                columns.row[take],
                columns.block[take],
                columns.grant[take],
                columns.expires_at[take],
                hospital[take],
                columns.purposes[take],
                columns.valid_from[take],
                columns.narrow[take],
            )

    def _hospital_code(self, hospital: str) -> int:
        code = self._hospital_codes.get(hospital)
        if code is None:
            code = self._hospital_codes[hospital] = len(self._hospitals)
            self._hospitals.append(hospital)
        return code

    # --- queries ---------------------------------------------------------------------------

    def resolve(self, patients: Sequence[str]) -> _Int64Array:
        """Each address's row (any case); -1 for an address never seen or not an address.

        Rows never change once assigned, so callers may keep the (read-only) result. The index
        also remembers the last list it resolved: resolving an equal list again costs a
        comparison (~10 ms per million) instead of a look-up of every address (~0.1 s), and
        re-checks only the -1 entries, which later syncs may have filled in.
        """
        with self._lock:
            memo = self._memo
            if memo is None or memo[1].size != len(patients):  # a new list: copied as looked up
                rows, key = self._patients.lookup_keeping(patients)
            else:
                key = chunked(patients)
                if memo[0] == key:
                    rows = memo[1]
                    missing = np.flatnonzero(rows < 0)
                    if missing.size:
                        rows = rows.copy()
                        rows[missing] = self._patients.lookup(
                            [patients[i] for i in missing.tolist()]
                        )
                else:
                    rows = self._patients.lookup_chunks(key)
            rows.flags.writeable = False
            self._memo = (key, rows)
            return rows

    def mask(
        self,
        study: StudyId,
        rows: _Int64Array,
        block: int,
        block_timestamp: int,
        purpose: StudyPurpose | None = None,
    ) -> ConsentMask:
        """Consent at `block` (timestamp `block_timestamp`) for patient rows from `resolve`;
        with `purpose`, only consents whose purposes cover it count."""
        with self._lock:
            if block > self._synced_block:
                raise IndexNotSyncedError(block, self._synced_block)
            rows = np.asarray(rows, dtype=np.int64)
            events = self._studies.get(bytes(study))
            if events is None:
                unknown = np.ones(rows.size, dtype=np.bool_)
                return ConsentMask(np.zeros(rows.size, dtype=np.bool_), unknown)
            last = events.last_of(rows)
            unknown = last < 0
            latest = events.latest(rows, block, last)
            found = latest >= 0
            at = np.where(found, latest, 0)
            expires = events.expires_at[at]
            live = (expires == 0) | (block_timestamp < expires)
            live &= events.valid_from[at] <= block_timestamp
            if purpose is not None:
                scopes = events.purposes[at]
                live &= (scopes & purpose.covering_bits) != 0
                if purpose.refuses_nmds:
                    live &= (scopes & NMDS_BIT) == 0
            return ConsentMask(found & events.grant[at] & live, unknown)

    def consented_at(
        self,
        study: StudyId,
        patients: Sequence[str],
        block: int,
        block_timestamp: int,
        purpose: StudyPurpose | None = None,
    ) -> _BoolArray:
        """For each patient, whether consent counts at `block`.

        Raises `UnknownPatientError` (listing them) when any patient has no event in `study`:
        a hospital must not hold data of patients it never enrolled.
        """
        result = self.mask(study, self.resolve(patients), block, block_timestamp, purpose)
        if result.unknown.any():
            missing = np.flatnonzero(result.unknown).tolist()
            raise UnknownPatientError(tuple(patients[i] for i in missing))
        return result.consented

    def _row_of(self, patient: str) -> tuple[Address, int]:
        address = parse_address(patient)
        return address, self._patients.row(address)

    def history(self, study: StudyId, patient: str) -> list[ConsentEvent]:
        """Every event of `patient` in `study`, oldest first (empty if none)."""
        with self._lock:
            address, row = self._row_of(patient)
            return [] if row < 0 else self._store.history(study, row, address)

    def histories(
        self, study: StudyId, patients: Iterable[str]
    ) -> dict[Address, list[ConsentEvent]]:
        """`history` of each of `patients` (any case; a key each, an empty list without events),
        read with one query instead of one per patient."""
        with self._lock:
            addresses = [parse_address(p) for p in patients]
            rows = self._patients.lookup(addresses).tolist()
            known = {r: a for r, a in zip(rows, addresses, strict=True) if r >= 0}
            found = self._store.histories(study, known) if known else {}
            return {a: found.get(r, []) for r, a in zip(rows, addresses, strict=True)}

    def status(self, study: StudyId, patient: str) -> ConsentStatus:
        """The patient's current record in `study` (all fields None without any grant)."""
        with self._lock:
            address, row = self._row_of(patient)
            events = [] if row < 0 else self._store.history(study, row, address)
            return status_from_events(study, address, events, self._synced_block)

    def patients(self, study: StudyId, hospital: str | None = None) -> tuple[Address, ...]:
        """Patients with any event in `study` (whose record is with `hospital`, if given).

        Revoked patients are included; the order is first appearance in the index.
        """
        with self._lock:
            events = self._studies.get(bytes(study))
            if events is None:
                return ()
            rows = np.flatnonzero(events.last >= 0)
            if hospital is not None:
                code = self._hospital_codes.get(parse_address(hospital), -1)
                rows = rows[events.hospital[events.last[rows]] == code]
            return tuple(Address(self._patients.address(r)) for r in rows.tolist())

    def revoked_since(self, study: StudyId, hospital: str, block: int) -> tuple[Address, ...]:
        """`hospital`'s patients with a revocation or a withdrawal of purposes in a block after
        `block`, sorted."""
        with self._lock:
            rows = self._store.revoked_rows(study, parse_address(hospital), block)
            addresses = (Address(self._patients.address(r)) for r in rows)
            return tuple(sorted(addresses, key=str.lower))
