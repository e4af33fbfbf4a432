"""StudyRegistry on eth-tester: events for every state change, an exception for every error."""

from __future__ import annotations

import pytest

from chain.errors import (
    AccessControlBadConfirmationError,
    AccessControlUnauthorizedAccountError,
    HospitalAlreadyMemberError,
    HospitalNotMemberError,
    InvalidMinUpdatesError,
    NotStudyCoordinatorError,
    StudyAlreadyExistsError,
    UnknownStudyError,
    ZeroAddressError,
)
from chain.events import HospitalAdded, HospitalRemoved, StudyCreated
from consent.ids import Address, Bytes32, parse_address, study_id
from tests.fixtures.ledger import LedgerWorld, sender_of

ZERO = Address("0x0000000000000000000000000000000000000000")


def _create(world: LedgerWorld, name: str, **overrides: object) -> StudyCreated:
    kwargs: dict[str, object] = {
        "aggregator": sender_of(world.aggregator),
        "aggregator_seal_key": Bytes32(b"\x07" * 32),
        "min_updates": 2,
        "metadata_cid": "bafkreistudy",
    }
    kwargs.update(overrides)
    return world.coordinator.studies.create_study(study_id(name), **kwargs)  # type: ignore[arg-type]


def test_create_study_emits_event_and_records_the_caller_as_coordinator(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    event = _create(world, "new-study")
    study = world.coordinator.studies.get_study(study_id("new-study"))
    assert isinstance(event, StudyCreated)
    assert event.study == study_id("new-study")
    assert event.coordinator == sender_of(world.coordinator) == study.coordinator
    assert (event.aggregator, event.min_updates) == (sender_of(world.aggregator), 2)
    assert study.aggregator_seal_key == b"\x07" * 32
    assert study.metadata_cid == "bafkreistudy"
    assert study.created_block == event.position.block_number
    assert world.coordinator.studies.study_exists(study_id("new-study"))


def test_create_study_twice_raises_study_already_exists(eth_tester_ledger: LedgerWorld) -> None:
    with pytest.raises(StudyAlreadyExistsError) as info:
        _create(eth_tester_ledger, "unit-study")
    assert info.value.arguments["study_id"] == study_id("unit-study")
    assert info.value.tx_hash is not None


def test_create_study_without_coordinator_role_raises_unauthorized(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    with pytest.raises(AccessControlUnauthorizedAccountError) as info:
        world.outsider.studies.create_study(
            study_id("x"),
            aggregator=sender_of(world.aggregator),
            aggregator_seal_key=Bytes32(bytes(32)),
            min_updates=1,
            metadata_cid="",
        )
    assert info.value.arguments["account"] == sender_of(world.outsider)
    assert isinstance(info.value, PermissionError)


def test_create_study_with_zero_aggregator_raises_zero_address(
    eth_tester_ledger: LedgerWorld,
) -> None:
    with pytest.raises(ZeroAddressError):
        _create(eth_tester_ledger, "zero-agg", aggregator=ZERO)


def test_create_study_with_zero_min_updates_raises_invalid_min_updates(
    eth_tester_ledger: LedgerWorld,
) -> None:
    with pytest.raises(InvalidMinUpdatesError) as info:
        _create(eth_tester_ledger, "zero-min", min_updates=0)
    assert info.value.arguments["min_updates"] == 0


def test_add_and_remove_hospital_emit_events_and_update_membership(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    studies = world.coordinator.studies
    newcomer = sender_of(world.outsider)
    added = studies.add_hospital(world.study, newcomer)
    assert isinstance(added, HospitalAdded)
    assert (added.study, added.hospital) == (world.study, newcomer)
    assert studies.is_member(world.study, newcomer)
    assert newcomer in studies.hospitals(world.study)
    removed = studies.remove_hospital(world.study, newcomer)
    assert isinstance(removed, HospitalRemoved)
    assert removed.hospital == newcomer
    assert not studies.is_member(world.study, newcomer)
    assert set(studies.hospitals(world.study)) == {sender_of(h) for h in world.hospitals}


def test_add_hospital_by_non_coordinator_raises_not_study_coordinator(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    with pytest.raises(NotStudyCoordinatorError) as info:
        world.hospitals[0].studies.add_hospital(world.study, sender_of(world.outsider))
    assert info.value.arguments["caller"] == sender_of(world.hospitals[0])


def test_add_existing_member_raises_hospital_already_member(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    with pytest.raises(HospitalAlreadyMemberError):
        world.coordinator.studies.add_hospital(world.study, sender_of(world.hospitals[0]))


def test_add_zero_hospital_raises_zero_address(eth_tester_ledger: LedgerWorld) -> None:
    world = eth_tester_ledger
    with pytest.raises(ZeroAddressError):
        world.coordinator.studies.add_hospital(world.study, ZERO)


def test_remove_non_member_raises_hospital_not_member(eth_tester_ledger: LedgerWorld) -> None:
    world = eth_tester_ledger
    with pytest.raises(HospitalNotMemberError):
        world.coordinator.studies.remove_hospital(world.study, sender_of(world.outsider))


def test_unknown_study_raises_unknown_study_for_reads_and_writes(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    with pytest.raises(UnknownStudyError):
        world.coordinator.studies.get_study(study_id("nope"))
    with pytest.raises(UnknownStudyError):
        world.coordinator.studies.add_hospital(study_id("nope"), sender_of(world.outsider))
    assert not world.coordinator.studies.study_exists(study_id("nope"))


def test_renounce_role_for_another_account_raises_bad_confirmation(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    studies = world.coordinator.studies
    role = studies._call("COORDINATOR_ROLE")
    with pytest.raises(AccessControlBadConfirmationError):
        studies._transact(100_000, "renounceRole", role, sender_of(world.outsider))
    assert studies.has_role("COORDINATOR_ROLE", parse_address(sender_of(world.coordinator)))
