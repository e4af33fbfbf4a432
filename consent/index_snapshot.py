"""A snapshot of the consent index's in-memory columns, so reopening does not rebuild them.

Rebuilding a million-patient index from its event rows means reading every row through SQLite
into Python tuples and re-linking every patient's chain: seconds. The snapshot keeps instead what
that rebuild produces, as raw numpy column bytes: each study's `StudyEvents` arrays, the patient
addresses (42 ASCII bytes each, read back as one fixed-width array; the look-up table over them
is rebuilt on open, which costs less than reading and checking a stored one) and the compact
integer codes of studies and hospitals (a code is a position in the snapshot's lists; the
columns hold only codes). A snapshot of an older session may hold an `address_order` BLOB, which
is ignored. It is stored as BLOBs in the
index's own SQLite file (`IndexStore.write_snapshot`), in one transaction, so it is never half
written, and it says which events it covers (their count and the last one's position): the
index loads it, then applies only the events stored after it. A snapshot whose last event is
not in the file is ignored (the index rebuilds from the rows, as before snapshots).

No pickle: numeric columns as raw little-endian bytes of a fixed dtype, the rest JSON.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from consent.events import EventPosition
from consent.index_columns import StudyEvents
from consent.index_store import IndexStore

__all__ = [
    "IndexSnapshot",
    "decode_snapshot",
    "encode_snapshot",
    "load_snapshot",
    "store_snapshot",
]

logger = logging.getLogger(__name__)

_VERSION: Final = 1
_ADDRESS_LEN: Final = 42
_COLUMNS: Final = (
    ("block", np.dtype("<i8")),
    ("grant", np.dtype(np.bool_)),
    ("expires_at", np.dtype("<i8")),
    ("hospital", np.dtype("<i4")),
    ("purposes", np.dtype("<i8")),
    ("valid_from", np.dtype("<i8")),
    ("prev", np.dtype("<i8")),
    ("last", np.dtype("<i8")),
)


@dataclass(frozen=True, slots=True)
class IndexSnapshot:
    """The index's columns after its first `events` events (the last one at `position`)."""

    events: int
    position: EventPosition
    addresses: npt.NDArray[np.bytes_]
    """Every patient address by row, 42 ASCII bytes each (`consent.index_patients`)."""
    hospitals: list[str]
    studies: dict[bytes, StudyEvents]


def encode_snapshot(snapshot: IndexSnapshot) -> dict[str, bytes]:
    """The snapshot as named BLOBs."""
    if any(len(a) != _ADDRESS_LEN for a in snapshot.hospitals):
        raise ValueError("hospital addresses are 42 characters")
    studies = list(snapshot.studies)
    meta: dict[str, Any] = {
        "version": _VERSION,
        "events": snapshot.events,
        "block": snapshot.position.block_number,
        "log_index": snapshot.position.log_index,
        "patients": snapshot.addresses.size,
        "hospitals": snapshot.hospitals,
        "studies": [s.hex() for s in studies],
    }
    if snapshot.addresses.dtype != np.dtype(f"S{_ADDRESS_LEN}"):
        raise ValueError("patient addresses are 42 characters")
    joined = snapshot.addresses.tobytes()
    blobs = {"meta": json.dumps(meta).encode(), "addresses": joined}
    for code, study in enumerate(studies):
        events = snapshot.studies[study]
        for name, dtype in _COLUMNS:
            blobs[f"{code}.{name}"] = np.ascontiguousarray(getattr(events, name), dtype).tobytes()
    return blobs


def decode_snapshot(blobs: dict[str, bytes]) -> IndexSnapshot | None:
    """The snapshot in `blobs`; None when there is none or it is not one this version reads."""
    if "meta" not in blobs:
        return None
    try:
        meta = json.loads(blobs["meta"])
        if meta.get("version") != _VERSION:
            return None
        joined = blobs["addresses"]
        count = int(meta["patients"])
        if len(joined) != _ADDRESS_LEN * count:
            return None
        addresses = np.frombuffer(joined, dtype=f"S{_ADDRESS_LEN}")  # no copy, no str each
        studies: dict[bytes, StudyEvents] = {}
        for code, study in enumerate(meta["studies"]):
            columns = {
                name: np.frombuffer(blobs[f"{code}.{name}"], dtype).astype(dtype.newbyteorder("="))
                for name, dtype in _COLUMNS
            }
            sizes = {columns[name].size for name, _ in _COLUMNS if name != "last"}
            if len(sizes) != 1 or columns["last"].size > count:
                return None
            studies[bytes.fromhex(study)] = StudyEvents(**columns)  # type: ignore[arg-type]
        return IndexSnapshot(
            events=int(meta["events"]),
            position=EventPosition(int(meta["block"]), int(meta["log_index"])),
            addresses=addresses,
            hospitals=[str(h) for h in meta["hospitals"]],
            studies=studies,
        )
    except (KeyError, ValueError, TypeError, UnicodeDecodeError):
        return None


def load_snapshot(store: IndexStore) -> IndexSnapshot | None:
    """The snapshot stored in `store`, if there is one that matches its events."""
    snapshot = decode_snapshot(store.snapshot_blobs())
    if snapshot is None:
        return None
    # Events are only ever appended after the last one, and the snapshot is written after they
    # commit, so the stored event at its position proves it covers exactly the events up to
    # there (a COUNT over a million rows would cost more than the rest of the load).
    if store.event_at(snapshot.position) is None:
        logger.warning("consent index snapshot does not match its events: rebuilding")
        return None
    return snapshot


def store_snapshot(store: IndexStore, snapshot: IndexSnapshot) -> None:
    """Replace the snapshot stored in `store` (one transaction)."""
    with store.transaction():
        store.write_snapshot(encode_snapshot(snapshot))
