"""DatasetInventory on eth-tester, and the StudyRegistry admission gate it drives: events for
every state change, an exception for every error, admission refused below threshold on chain."""

from __future__ import annotations

import dataclasses

import pytest

from chain.errors import NotStudyCoordinatorError, UnknownStudyError
from chain.events import HospitalAdded
from chain.inventory_errors import (
    DatasetAlreadyRegisteredError,
    DatasetBelowThresholdError,
    DatasetInventoryAlreadySetError,
    InvalidDatasetCardError,
    InvalidThresholdsError,
    NoDatasetOfferedError,
    NotDatasetOwnerError,
    ThresholdsAlreadySetError,
    UnknownDatasetError,
)
from consent.dataset_card import AdmissionThresholds, OnChainScores, first_failure
from consent.ids import Bytes32, study_id
from tests.fixtures.ledger import LedgerWorld, sender_of

GOOD = OnChainScores(
    k=10,
    l=2,
    t_closeness_ppm=150_000,
    singling_out_risk_ppm=20_000,
    linkability_risk_ppm=10_000,
    inference_risk_ppm=30_000,
    rows=500,
    synthetic=False,
)
LIMITS = AdmissionThresholds(
    min_k=5, min_l=2, max_t_closeness_ppm=300_000, max_risk_ppm=100_000, allow_synthetic=False
)


def _new_study(world: LedgerWorld, name: str = "gated-study") -> bytes:
    study = study_id(name)
    world.coordinator.studies.create_study(
        study,
        aggregator=sender_of(world.aggregator),
        aggregator_seal_key=Bytes32(bytes(32)),
        min_updates=1,
        metadata_cid="",
    )
    return study


def _register(world: LedgerWorld, hospital: int, scores: OnChainScores, tag: bytes) -> Bytes32:
    card_hash = Bytes32(tag.ljust(32, b"\x01"))
    inventory = world.hospitals[hospital].datasets
    assert inventory is not None
    inventory.register_dataset(card_hash, "bafkreicard" + tag.hex(), scores)
    return card_hash


def test_deploy_wires_the_inventory_into_the_study_registry(eth_tester_ledger: LedgerWorld) -> None:
    world = eth_tester_ledger
    assert world.coordinator.datasets is not None
    assert world.manifest.dataset_inventory == world.coordinator.datasets.address
    assert world.coordinator.studies.dataset_inventory() == world.manifest.dataset_inventory
    with pytest.raises(DatasetInventoryAlreadySetError):
        world.coordinator.studies.set_dataset_inventory(world.coordinator.datasets.address)


def test_register_emits_event_and_records_owner_scores_and_block(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    inventory = world.hospitals[0].datasets
    assert inventory is not None
    card_hash = Bytes32(b"\x0a" * 32)
    result = inventory.register_dataset(card_hash, "bafkreiabc", GOOD)
    receipt = world.chain.w3.eth.get_transaction_receipt(result.tx_hash)
    events = inventory._contract.events.DatasetRegistered().process_receipt(receipt)
    assert len(events) == 1
    assert events[0]["args"]["cardHash"] == card_hash
    record = inventory.get_dataset(card_hash)
    assert record.hospital == sender_of(world.hospitals[0])
    assert (record.card_cid, record.scores, record.registered_block) == (
        "bafkreiabc",
        GOOD,
        result.block,
    )
    assert card_hash in inventory.datasets()
    with pytest.raises(DatasetAlreadyRegisteredError):
        inventory.register_dataset(card_hash, "bafkreiabc", GOOD)


@pytest.mark.parametrize(
    "change",
    [
        {"k": 0},
        {"l": 0},
        {"rows": 3},
        {"t_closeness_ppm": 1_000_001},
        {"inference_risk_ppm": 2**31},
    ],
)
def test_register_rejects_out_of_range_scores(
    eth_tester_ledger: LedgerWorld, change: dict[str, int]
) -> None:
    inventory = eth_tester_ledger.hospitals[0].datasets
    assert inventory is not None
    with pytest.raises(InvalidDatasetCardError):
        inventory.register_dataset(
            Bytes32(b"\x0b" * 32), "bafkrei", dataclasses.replace(GOOD, **change)
        )


def test_thresholds_only_by_the_coordinator_once_and_in_range(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    study = _new_study(world)
    hospital_inventory, inventory = world.hospitals[0].datasets, world.coordinator.datasets
    assert hospital_inventory is not None
    assert inventory is not None
    with pytest.raises(NotStudyCoordinatorError):
        hospital_inventory.set_thresholds(study, LIMITS)
    with pytest.raises(UnknownStudyError):
        inventory.set_thresholds(study_id("no-such-study"), LIMITS)
    with pytest.raises(InvalidThresholdsError):
        inventory.set_thresholds(study, dataclasses.replace(LIMITS, min_k=0))
    result = inventory.set_thresholds(study, LIMITS)
    receipt = world.chain.w3.eth.get_transaction_receipt(result.tx_hash)
    assert len(inventory._contract.events.ThresholdsSet().process_receipt(receipt)) == 1
    assert inventory.thresholds(study) == LIMITS
    with pytest.raises(ThresholdsAlreadySetError):
        inventory.set_thresholds(study, LIMITS)


def test_study_without_thresholds_admits_without_a_dataset(eth_tester_ledger: LedgerWorld) -> None:
    world = eth_tester_ledger
    study = _new_study(world)
    assert world.coordinator.datasets is not None
    assert world.coordinator.datasets.thresholds(study) is None
    event = world.coordinator.studies.add_hospital(study, sender_of(world.hospitals[0]))
    assert isinstance(event, HospitalAdded)


def test_admission_refused_on_chain_without_an_offer_or_below_threshold(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    study = _new_study(world)
    assert world.coordinator.datasets is not None
    world.coordinator.datasets.set_thresholds(study, LIMITS)
    hospital = sender_of(world.hospitals[0])
    with pytest.raises(NoDatasetOfferedError):
        world.coordinator.studies.add_hospital(study, hospital)
    weak = _register(world, 0, dataclasses.replace(GOOD, k=3), b"weak")
    inventory = world.hospitals[0].datasets
    assert inventory is not None
    # the offer itself is refused below threshold ...
    with pytest.raises(DatasetBelowThresholdError) as info:
        inventory.offer_dataset(study, weak)
    assert info.value.arguments["criterion"] == "k"
    assert not world.coordinator.datasets.admissible(study, hospital)
    # ... and so is the admission: the contract, not only the CLI, refuses
    with pytest.raises(NoDatasetOfferedError):
        world.coordinator.studies.add_hospital(study, hospital)
    assert not world.coordinator.studies.is_member(study, hospital)
    good = _register(world, 0, GOOD, b"good")
    result = inventory.offer_dataset(study, good)
    receipt = world.chain.w3.eth.get_transaction_receipt(result.tx_hash)
    assert len(inventory._contract.events.DatasetOffered().process_receipt(receipt)) == 1
    assert world.coordinator.datasets.admissible(study, hospital)
    world.coordinator.studies.add_hospital(study, hospital)
    assert world.coordinator.studies.is_member(study, hospital)
    assert inventory.studies_of(good) == (study,)
    assert inventory.offered_dataset(study, hospital) == good


def test_offer_made_before_thresholds_is_rechecked_at_admission(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    study = _new_study(world)
    risky = _register(world, 1, dataclasses.replace(GOOD, linkability_risk_ppm=900_000), b"risky")
    inventory, coordinator = world.hospitals[1].datasets, world.coordinator.datasets
    assert inventory is not None
    assert coordinator is not None
    inventory.offer_dataset(study, risky)  # no thresholds yet: accepted
    coordinator.set_thresholds(study, LIMITS)
    with pytest.raises(DatasetBelowThresholdError) as info:
        world.coordinator.studies.add_hospital(study, sender_of(world.hospitals[1]))
    assert info.value.arguments["criterion"] == "linkability"
    assert first_failure(LIMITS, inventory.get_dataset(risky).scores) == "linkability"


def test_synthetic_dataset_is_marked_and_refused_unless_allowed(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    study = _new_study(world)
    synthetic = _register(world, 0, dataclasses.replace(GOOD, synthetic=True), b"syn")
    inventory, coordinator = world.hospitals[0].datasets, world.coordinator.datasets
    assert inventory is not None
    assert coordinator is not None
    assert inventory.get_dataset(synthetic).scores.synthetic
    coordinator.set_thresholds(study, LIMITS)
    with pytest.raises(DatasetBelowThresholdError) as info:
        inventory.offer_dataset(study, synthetic)
    assert info.value.arguments["criterion"] == "synthetic"


def test_offer_needs_an_existing_study_and_the_owner(eth_tester_ledger: LedgerWorld) -> None:
    world = eth_tester_ledger
    card = _register(world, 0, GOOD, b"mine")
    other = world.hospitals[1].datasets
    assert other is not None
    with pytest.raises(NotDatasetOwnerError):
        other.offer_dataset(world.study, card)
    with pytest.raises(UnknownDatasetError):
        other.offer_dataset(world.study, Bytes32(b"\x77" * 32))
    with pytest.raises(UnknownStudyError):
        other.offer_dataset(study_id("nope"), card)
