"""The consent index against a naive model, plus persistence, idempotency and ordering rules."""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from eth_utils.address import to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from consent.errors import (
    ConflictingEventError,
    ConsentError,
    IndexNotSyncedError,
    OutOfOrderEventError,
    UnknownPatientError,
)
from consent.events import ConsentEvent, ConsentGranted, ConsentRevoked, EventPosition
from consent.ids import Address, StudyId, study_id
from consent.index import ConsentIndex


def _address(value: int) -> Address:
    return Address(to_checksum_address((0xC0FFEE00 + value).to_bytes(20, "big")))


STUDIES = (study_id("alpha"), study_id("beta"))
PATIENTS = tuple(_address(i) for i in range(6))
HOSPITALS = (_address(100), _address(101))


def _timestamp(block: int) -> int:
    return 1_700_000_000 + 12 * block


def _grant(
    study: StudyId,
    patient: Address,
    block: int,
    log_index: int = 0,
    *,
    hospital: Address = HOSPITALS[0],
    expires_at: int = 0,
    nonce: int = 0,
) -> ConsentGranted:
    position = EventPosition(block, log_index)
    tx = f"0x{block:032x}{log_index:032x}"
    return ConsentGranted(
        study, patient, hospital, expires_at, nonce, position, tx, _timestamp(block)
    )


def _revoke(
    study: StudyId,
    patient: Address,
    block: int,
    log_index: int = 0,
    *,
    hospital: Address = HOSPITALS[0],
) -> ConsentRevoked:
    position = EventPosition(block, log_index)
    tx = f"0x{block:032x}{log_index:032x}"
    return ConsentRevoked(study, patient, hospital, position, tx, _timestamp(block))


def _model(events: Sequence[ConsentEvent], study: StudyId, patient: Address, block: int) -> bool:
    """Naive: the latest event at or before `block` decides, with expiry at the block's time."""
    latest: ConsentEvent | None = None
    for event in events:
        if (
            event.study == study
            and event.patient == patient
            and event.position.block_number <= block
        ):
            latest = event
    if not isinstance(latest, ConsentGranted):
        return False
    return latest.expires_at == 0 or _timestamp(block) < latest.expires_at


@st.composite
def _event_sequences(draw: st.DrawFn) -> list[ConsentEvent]:
    events: list[ConsentEvent] = []
    block = draw(st.integers(1, 3))
    for _ in range(draw(st.integers(0, 40))):
        block += draw(st.sampled_from([0, 0, 1, 2, 5]))
        log_index = sum(1 for e in events if e.position.block_number == block)
        study = draw(st.sampled_from(STUDIES))
        patient = draw(st.sampled_from(PATIENTS))
        hospital = draw(st.sampled_from(HOSPITALS))
        if draw(st.booleans()):
            expires = draw(st.sampled_from([0, 0, _timestamp(block + draw(st.integers(1, 20)))]))
            events.append(
                _grant(study, patient, block, log_index, hospital=hospital, expires_at=expires)
            )
        else:
            events.append(_revoke(study, patient, block, log_index, hospital=hospital))
    return events


def _check_against_model(index: ConsentIndex, events: Sequence[ConsentEvent], upto: int) -> None:
    rows = index.resolve(PATIENTS)
    for study in STUDIES:
        seen = {e.patient for e in events if e.study == study}
        for block in range(0, upto + 1):
            mask = index.mask(study, rows, block, _timestamp(block))
            expected = [_model(events, study, p, block) for p in PATIENTS]
            assert mask.consented.tolist() == expected, (study, block)
            assert mask.unknown.tolist() == [p not in seen for p in PATIENTS]


@settings(max_examples=50, deadline=None)
@given(events=_event_sequences(), cuts=st.lists(st.integers(0, 40), max_size=3))
def test_mask_matches_naive_model_across_batches_and_reopen(
    events: list[ConsentEvent], cuts: list[int]
) -> None:
    last_block = max((e.position.block_number for e in events), default=1)
    bounds = sorted({0, len(events), *(c for c in cuts if c <= len(events))})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "consent.sqlite"
        for start, stop in itertools.pairwise(bounds):
            with ConsentIndex(path) as index:  # reopened for every batch: exercises the load path
                index.apply(events[start:stop])
        with ConsentIndex(path) as index:
            index.mark_synced(last_block + 3)
            _check_against_model(index, events, last_block + 3)
            assert index.apply(events) == 0  # everything again: idempotent
            _check_against_model(index, events, last_block + 3)


def test_consented_at_counts_grant_from_its_block_and_stops_at_revocation() -> None:
    study = STUDIES[0]
    with ConsentIndex(":memory:") as index:
        index.apply([_grant(study, PATIENTS[0], 10), _revoke(study, PATIENTS[0], 20)])
        index.mark_synced(30)
        answers = [
            bool(index.consented_at(study, [PATIENTS[0]], b, _timestamp(b))[0])
            for b in (9, 10, 19, 20, 30)
        ]
    assert answers == [False, True, True, False, False]


def test_regrant_after_revocation_counts_again_from_its_block() -> None:
    study = STUDIES[0]
    events: list[ConsentEvent] = [
        _grant(study, PATIENTS[1], 5),
        _revoke(study, PATIENTS[1], 6),
        _grant(study, PATIENTS[1], 8),
    ]
    with ConsentIndex(":memory:") as index:
        index.apply(events, synced_through=9)
        got = [
            bool(index.consented_at(study, [PATIENTS[1]], b, _timestamp(b))[0])
            for b in range(5, 10)
        ]
    assert got == [True, False, False, True, True]


def test_revocation_in_same_block_after_grant_wins_by_log_index() -> None:
    study = STUDIES[0]
    with ConsentIndex(":memory:") as index:
        index.apply(
            [_grant(study, PATIENTS[0], 7, 0), _revoke(study, PATIENTS[0], 7, 1)], synced_through=7
        )
        assert not index.consented_at(study, [PATIENTS[0]], 7, _timestamp(7))[0]


def test_expiry_is_exclusive_at_the_expiry_timestamp() -> None:
    study = STUDIES[0]
    expires = 5_000
    with ConsentIndex(":memory:") as index:
        index.apply([_grant(study, PATIENTS[0], 1, expires_at=expires)], synced_through=1)
        assert index.consented_at(study, [PATIENTS[0]], 1, expires - 1)[0]
        assert not index.consented_at(study, [PATIENTS[0]], 1, expires)[0]


def test_uint64_max_expiry_counts_as_never_expiring() -> None:
    study = STUDIES[0]
    with ConsentIndex(":memory:") as index:
        index.apply([_grant(study, PATIENTS[0], 1, expires_at=2**64 - 1)], synced_through=1)
        assert index.consented_at(study, [PATIENTS[0]], 1, 2**62)[0]


def test_unknown_patients_raise_listing_them_even_if_known_in_another_study() -> None:
    with ConsentIndex(":memory:") as index:
        index.apply(
            [_grant(STUDIES[0], PATIENTS[0], 1), _grant(STUDIES[1], PATIENTS[1], 1, 1)],
            synced_through=1,
        )
        with pytest.raises(UnknownPatientError) as info:
            index.consented_at(
                STUDIES[0], [PATIENTS[0], PATIENTS[1], PATIENTS[2]], 1, _timestamp(1)
            )
    assert info.value.patients == (PATIENTS[1], PATIENTS[2])
    assert isinstance(info.value, KeyError)
    assert isinstance(info.value, ConsentError)


def test_unknown_study_reports_every_patient_unknown() -> None:
    with ConsentIndex(":memory:") as index:
        index.apply([_grant(STUDIES[0], PATIENTS[0], 1)], synced_through=1)
        mask = index.mask(STUDIES[1], index.resolve(PATIENTS[:2]), 1, _timestamp(1))
    assert mask.unknown.tolist() == [True, True]
    assert mask.consented.tolist() == [False, False]


def test_resolve_accepts_any_case_and_marks_never_seen_addresses() -> None:
    with ConsentIndex(":memory:") as index:
        index.apply([_grant(STUDIES[0], PATIENTS[3], 1)])
        rows = index.resolve([PATIENTS[3].lower(), PATIENTS[3], PATIENTS[4]])
    assert rows[0] == rows[1] >= 0
    assert rows[2] == -1


def test_query_beyond_synced_block_is_refused() -> None:
    with ConsentIndex(":memory:") as index:
        index.apply([_grant(STUDIES[0], PATIENTS[0], 4)], synced_through=4)
        with pytest.raises(IndexNotSyncedError) as info:
            index.consented_at(STUDIES[0], [PATIENTS[0]], 5, _timestamp(5))
    assert (info.value.block, info.value.synced_block) == (5, 4)


def test_mark_synced_backwards_is_refused() -> None:
    with ConsentIndex(":memory:") as index:
        index.mark_synced(10)
        with pytest.raises(IndexNotSyncedError):
            index.mark_synced(9)
        assert index.synced_block == 10


def test_event_in_an_already_synced_block_is_refused() -> None:
    with ConsentIndex(":memory:") as index:
        index.apply([_grant(STUDIES[0], PATIENTS[0], 4)], synced_through=6)
        with pytest.raises(OutOfOrderEventError):
            index.apply([_grant(STUDIES[0], PATIENTS[1], 6, 3)])


def test_unseen_event_before_the_last_applied_is_refused() -> None:
    with ConsentIndex(":memory:") as index:
        index.apply([_grant(STUDIES[0], PATIENTS[0], 4, 2)])
        with pytest.raises(OutOfOrderEventError) as info:
            index.apply([_grant(STUDIES[0], PATIENTS[1], 4, 1)])
    assert info.value.position == EventPosition(4, 1)


def test_out_of_order_events_within_one_batch_are_refused() -> None:
    with ConsentIndex(":memory:") as index, pytest.raises(OutOfOrderEventError):
        index.apply([_grant(STUDIES[0], PATIENTS[0], 5), _grant(STUDIES[0], PATIENTS[1], 4)])


def test_reapplied_event_with_different_content_conflicts() -> None:
    event = _grant(STUDIES[0], PATIENTS[0], 4)
    with ConsentIndex(":memory:") as index:
        index.apply([event])
        with pytest.raises(ConflictingEventError):
            index.apply([replace(event, expires_at=99)])
        with pytest.raises(ConflictingEventError):
            index.apply([replace(event, patient=PATIENTS[1])])


def test_failed_batch_applies_nothing_and_persists_nothing(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite"
    with ConsentIndex(path) as index:
        index.apply([_grant(STUDIES[0], PATIENTS[0], 4)])
        with pytest.raises(OutOfOrderEventError):
            index.apply([_grant(STUDIES[0], PATIENTS[1], 5), _grant(STUDIES[0], PATIENTS[2], 3)])
        assert index.last_position == EventPosition(4, 0)
        assert index.patients(STUDIES[0]) == (PATIENTS[0],)
    with ConsentIndex(path) as index:
        assert index.patients(STUDIES[0]) == (PATIENTS[0],)
        assert index.apply([_grant(STUDIES[0], PATIENTS[1], 5)]) == 1


def test_synced_block_and_answers_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite"
    events: list[ConsentEvent] = [
        _grant(STUDIES[0], PATIENTS[0], 2),
        _revoke(STUDIES[0], PATIENTS[0], 9),
    ]
    with ConsentIndex(path) as index:
        index.apply(events, synced_through=12)
    with ConsentIndex(path) as index:
        assert index.synced_block == 12
        assert index.last_position == EventPosition(9, 0)
        assert index.history(STUDIES[0], PATIENTS[0]) == events
        assert index.consented_at(STUDIES[0], [PATIENTS[0]], 8, _timestamp(8)).tolist() == [True]
        assert index.consented_at(STUDIES[0], [PATIENTS[0]], 12, _timestamp(12)).tolist() == [False]


def test_status_follows_grant_revoke_and_regrant() -> None:
    study, patient = STUDIES[0], PATIENTS[2]
    with ConsentIndex(":memory:") as index:
        none = index.status(study, patient)
        index.apply(
            [_grant(study, patient, 3, expires_at=10**10, hospital=HOSPITALS[1])], synced_through=3
        )
        granted = index.status(study, patient.lower())
        index.apply([_revoke(study, patient, 5, hospital=HOSPITALS[1])], synced_through=5)
        revoked = index.status(study, patient)
        index.apply([_grant(study, patient, 7)], synced_through=7)
        regranted = index.status(study, patient)
    assert (none.granted_block, none.active, none.hospital) == (None, False, None)
    assert (granted.granted_block, granted.revoked_block, granted.active) == (3, None, True)
    assert granted.hospital == HOSPITALS[1]
    assert granted.consented_at_time(10**10 - 1)
    assert not granted.consented_at_time(10**10)
    assert (revoked.granted_block, revoked.revoked_block, revoked.active) == (3, 5, False)
    assert (regranted.granted_block, regranted.revoked_block, regranted.expires_at) == (7, None, 0)
    assert (regranted.hospital, regranted.synced_block) == (HOSPITALS[0], 7)


def test_history_lists_only_that_patients_events_in_that_study() -> None:
    mine: list[ConsentEvent] = [
        _grant(STUDIES[0], PATIENTS[0], 1, nonce=3),
        _revoke(STUDIES[0], PATIENTS[0], 2),
    ]
    others = [_grant(STUDIES[1], PATIENTS[0], 3), _grant(STUDIES[0], PATIENTS[1], 4)]
    with ConsentIndex(":memory:") as index:
        index.apply(sorted([*mine, *others], key=lambda e: e.position))
        assert index.history(STUDIES[0], PATIENTS[0]) == mine
        assert index.history(STUDIES[0], PATIENTS[5]) == []


def test_revoked_since_returns_that_hospitals_revocations_after_the_block() -> None:
    study = STUDIES[0]
    h0, h1 = HOSPITALS
    events: list[ConsentEvent] = [
        _grant(study, PATIENTS[0], 1, 0),
        _grant(study, PATIENTS[1], 1, 1),
        _grant(study, PATIENTS[2], 1, 2, hospital=h1),
        _revoke(study, PATIENTS[0], 3),
        _revoke(study, PATIENTS[1], 6),
        _revoke(study, PATIENTS[2], 6, 1, hospital=h1),
        _revoke(STUDIES[1], PATIENTS[3], 7),
    ]
    with ConsentIndex(":memory:") as index:
        index.apply(events)
        assert index.revoked_since(study, h0, 2) == tuple(sorted(PATIENTS[:2], key=str.lower))
        assert index.revoked_since(study, h0, 3) == (PATIENTS[1],)
        assert index.revoked_since(study, h1.lower(), 0) == (PATIENTS[2],)
        assert index.revoked_since(study, h0, 6) == ()


def test_patients_filters_by_the_hospital_holding_the_record() -> None:
    study = STUDIES[0]
    events: list[ConsentEvent] = [
        _grant(study, PATIENTS[0], 1, 0),
        _grant(study, PATIENTS[1], 1, 1, hospital=HOSPITALS[1]),
        _revoke(study, PATIENTS[0], 2),
        _grant(study, PATIENTS[1], 3, hospital=HOSPITALS[0]),
        _grant(STUDIES[1], PATIENTS[2], 4),
    ]
    with ConsentIndex(":memory:") as index:
        index.apply(events)
        assert index.patients(study) == (PATIENTS[0], PATIENTS[1])
        assert index.patients(study, HOSPITALS[0]) == (PATIENTS[0], PATIENTS[1])
        assert index.patients(study, HOSPITALS[1]) == ()
        assert index.patients(STUDIES[1]) == (PATIENTS[2],)


def test_mask_over_many_patients_matches_per_patient_answers() -> None:
    rng = np.random.default_rng(7)
    study = STUDIES[0]
    patients = [
        Address(to_checksum_address(int(v).to_bytes(20, "big")))
        for v in rng.integers(1, 2**62, 500)
    ]
    events: list[ConsentEvent] = []
    for i, patient in enumerate(patients):
        events.append(_grant(study, patient, 1, i))
    for i, patient in enumerate(patients[::3]):
        events.append(_revoke(study, patient, 2, i))
    with ConsentIndex(":memory:") as index:
        index.apply(events, synced_through=2)
        bulk = index.consented_at(study, patients, 2, _timestamp(2))
        single = [bool(index.consented_at(study, [p], 2, _timestamp(2))[0]) for p in patients]
    assert bulk.tolist() == single
    assert int(bulk.sum()) == len(patients) - len(patients[::3])


def test_resolving_the_same_list_again_picks_up_patients_enrolled_since() -> None:
    study = STUDIES[0]
    patients = [PATIENTS[0], PATIENTS[1]]
    with ConsentIndex(":memory:") as index:
        index.apply([_grant(study, PATIENTS[0], 1)], synced_through=1)
        first = index.resolve(patients)
        index.apply([_grant(study, PATIENTS[1], 2)], synced_through=2)
        second = index.resolve(list(patients))
        assert first.tolist()[1] == -1
        assert second.tolist()[0] == first.tolist()[0]
        assert second.tolist()[1] >= 0
        assert index.consented_at(study, patients, 2, _timestamp(2)).tolist() == [True, True]


def test_resolved_rows_are_read_only() -> None:
    with ConsentIndex(":memory:") as index:
        index.apply([_grant(STUDIES[0], PATIENTS[0], 1)])
        rows = index.resolve([PATIENTS[0]])
        with pytest.raises(ValueError, match="read-only"):
            rows[0] = 5


def test_malformed_address_is_reported_as_unknown_patient() -> None:
    with ConsentIndex(":memory:") as index:
        index.apply([_grant(STUDIES[0], PATIENTS[0], 1)], synced_through=1)
        with pytest.raises(UnknownPatientError) as info:
            index.consented_at(STUDIES[0], [PATIENTS[0], "0xnope"], 1, _timestamp(1))
    assert info.value.patients == ("0xnope",)
