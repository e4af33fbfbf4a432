"""The consent index's snapshot: reopening from it (plus the events stored after it) answers
exactly as rebuilding from the rows; a snapshot that does not match the rows is ignored."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from consent.events import ConsentEvent
from consent.index import ConsentIndex
from consent.index_snapshot import load_snapshot
from consent.index_store import IndexStore
from tests.unit.consent.test_index import (
    PATIENTS,
    STUDIES,
    _check_against_model,
    _event_sequences,
    _grant,
    _revoke,
)


def _snapshot_events(path: Path) -> int | None:
    store = IndexStore(path)
    try:
        snapshot = load_snapshot(store)
        return None if snapshot is None else snapshot.events
    finally:
        store.close()


@settings(max_examples=40, deadline=None)
@given(events=_event_sequences(), cut=st.integers(0, 40))
def test_reopening_from_a_snapshot_and_the_events_after_it_matches_the_model(
    events: list[ConsentEvent], cut: int
) -> None:
    cut = min(cut, len(events))
    last_block = max((e.position.block_number for e in events), default=1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "consent.sqlite"
        writer = ConsentIndex(path)
        writer.apply(events[:cut])
        writer.save_snapshot()
        writer.apply(events[cut:], synced_through=last_block + 3)  # not snapshotted yet
        expected = cut if cut else None  # an empty index stores no snapshot
        assert _snapshot_events(path) == expected
        with ConsentIndex(path) as reader:  # snapshot + the rows after it
            _check_against_model(reader, events, last_block + 3)
            assert reader.patients(STUDIES[0]) == writer.patients(STUDIES[0])
        writer.close()
        assert _snapshot_events(path) == (len(events) or None)


def test_closing_stores_a_snapshot_and_reopening_uses_it(tmp_path: Path) -> None:
    path = tmp_path / "consent.sqlite"
    events = [_grant(STUDIES[0], PATIENTS[0], 1), _grant(STUDIES[1], PATIENTS[1], 2)]
    with ConsentIndex(path) as index:
        index.apply(events, synced_through=3)
    assert _snapshot_events(path) == 2
    with ConsentIndex(path) as index:
        lower = [p.lower() for p in PATIENTS[:2]]  # matched in any case after a reopen too
        assert index.consented_at(STUDIES[0], lower[:1], 3, 10**10).tolist() == [True]
        index.apply([_revoke(STUDIES[0], PATIENTS[0], 4)], synced_through=4)
        assert index.consented_at(STUDIES[0], PATIENTS[:1], 4, 10**10).tolist() == [False]
    assert _snapshot_events(path) == 3


def test_snapshot_that_does_not_match_the_rows_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "consent.sqlite"
    with ConsentIndex(path) as index:
        index.apply([_grant(STUDIES[0], PATIENTS[0], 1)], synced_through=1)
    db = sqlite3.connect(path)
    with db:  # a snapshot whose last event is not in the file (a foreign or stale snapshot)
        meta = db.execute("SELECT data FROM snapshot WHERE name = 'meta'").fetchone()[0]
        db.execute(
            "UPDATE snapshot SET data = ? WHERE name = 'meta'",
            (bytes(meta).replace(b'"block": 1', b'"block": 9'),),
        )
    db.close()
    assert _snapshot_events(path) is None
    with ConsentIndex(path) as index:  # rebuilt from the rows, same answers
        assert index.consented_at(STUDIES[0], PATIENTS[:1], 1, 10**10).tolist() == [True]


def test_a_snapshot_of_an_older_session_with_a_key_order_still_loads(tmp_path: Path) -> None:
    """Session 6 snapshots also stored the patients' key order (`address_order`); the table
    that replaced it is rebuilt on open, so the BLOB is ignored, whatever it holds."""
    path = tmp_path / "consent.sqlite"
    with ConsentIndex(path) as index:
        index.apply(
            [_grant(STUDIES[0], PATIENTS[0], 1), _grant(STUDIES[0], PATIENTS[1], 2)],
            synced_through=2,
        )
    store = IndexStore(path)
    try:
        blobs = store.snapshot_blobs()
        assert "address_order" not in blobs
        with store.transaction():
            store.write_snapshot({**blobs, "address_order": b"\xff" * 16})
    finally:
        store.close()
    assert _snapshot_events(path) == 2
    with ConsentIndex(path) as index:
        assert index.consented_at(STUDIES[0], [PATIENTS[1], PATIENTS[0]], 2, 10**10).tolist() == [
            True,
            True,
        ]
