"""`ChainLedger.study()` (issue 19): the purpose is read until the registry locks it, then kept
(a later `declarePurpose` is refused on chain, so the kept value cannot go stale); the member
list is read on every call, so an admission or a removal shows in the next round's read."""

from __future__ import annotations

import pytest

from chain.errors import StudyPurposeLockedError
from chain.ledger import ChainLedger
from consent.ids import Bytes32, StudyId, study_id
from consent.purposes import HMB, StudyPurpose
from tests.fixtures.ledger import LedgerWorld, sender_of

DS_CANCER = StudyPurpose.parse("DS-CANCER")


def _purpose_reads(world: LedgerWorld, monkeypatch: pytest.MonkeyPatch) -> list[StudyId]:
    """Every `study_purpose` view hospital 0's deployment makes from now on."""
    studies = world.hospitals[0].studies
    reads: list[StudyId] = []
    real = studies.study_purpose

    def spied(study: StudyId, block: int | None = None) -> StudyPurpose | None:
        reads.append(study)
        return real(study, block)

    monkeypatch.setattr(studies, "study_purpose", spied)
    return reads


def _bare_study(world: LedgerWorld, name: str) -> StudyId:
    study = study_id(name)
    world.coordinator.studies.create_study(
        study,
        aggregator=sender_of(world.aggregator),
        aggregator_seal_key=Bytes32(b"\x42" * 32),
        min_updates=1,
        metadata_cid="bafkreimetadata",
    )
    return study


def test_a_declared_purpose_is_read_once_and_cannot_be_declared_again(
    eth_tester_ledger: LedgerWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = eth_tester_ledger
    study = world.scoped_study("declared-kept", DS_CANCER)
    ledger = ChainLedger(world.hospitals[0])
    reads = _purpose_reads(world, monkeypatch)

    purposes = [ledger.study(study).purpose for _ in range(3)]

    assert purposes == [DS_CANCER] * 3
    assert reads == [study]  # kept after the first read
    with pytest.raises(StudyPurposeLockedError):  # so the kept value cannot go stale
        world.coordinator.studies.declare_purpose(study, StudyPurpose(HMB))
    assert world.coordinator.studies.study_purpose(study) == DS_CANCER
    assert ledger.study(study).purpose == DS_CANCER


def test_no_purpose_is_kept_once_a_hospital_is_admitted_and_then_none_can_be_declared(
    eth_tester_ledger: LedgerWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = eth_tester_ledger
    ledger = ChainLedger(world.hospitals[0])
    reads = _purpose_reads(world, monkeypatch)

    assert [ledger.study(world.study).purpose for _ in range(3)] == [None] * 3
    assert reads == [world.study]  # members exist: the slot is locked, read once
    with pytest.raises(StudyPurposeLockedError):
        world.coordinator.studies.declare_purpose(world.study, DS_CANCER)
    assert world.coordinator.studies.study_purpose(world.study) is None


def test_an_unlocked_purpose_is_read_again_and_a_later_declaration_is_seen(
    eth_tester_ledger: LedgerWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = eth_tester_ledger
    study = _bare_study(world, "not-locked-yet")
    ledger = ChainLedger(world.hospitals[0])
    reads = _purpose_reads(world, monkeypatch)

    assert ledger.study(study).purpose is None
    assert ledger.study(study).hospitals == ()
    world.coordinator.studies.declare_purpose(study, DS_CANCER)  # still allowed: not locked
    first, second = ledger.study(study), ledger.study(study)

    assert (first.purpose, second.purpose) == (DS_CANCER, DS_CANCER)
    assert reads == [study, study, study]  # read while unlocked, kept from the declaration on


def test_membership_changes_show_in_the_next_read(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    ledger = ChainLedger(world.hospitals[0])
    first, second = (sender_of(h) for h in world.hospitals)
    assert ledger.study(world.study).hospitals == (first, second)

    world.coordinator.studies.remove_hospital(world.study, second)
    assert ledger.study(world.study).hospitals == (first,)

    outsider = sender_of(world.outsider)
    world.coordinator.studies.add_hospital(world.study, outsider)
    assert set(ledger.study(world.study).hospitals) == {first, outsider}
    assert ledger.study(world.study).purpose is None
