"""The audit's dataset checks on eth-tester with a local store: an honest card passes; a card
whose registered scores lie, whose bytes were swapped, or that fails thresholds set after
admission is caught."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from chain.audit import AuditCheck, AuditVerifier, LedgerView, run_checks
from chain.audit.datasets import DatasetCards, DatasetThresholds
from chain.exclusions import ExclusionProofs
from chain.store import LocalStore
from consent.dataset_card import AdmissionThresholds, DatasetCard, Risk
from consent.ids import Bytes32, StudyId, study_id
from tests.fixtures.ledger import LedgerWorld, sender_of

LIMITS = AdmissionThresholds(
    min_k=5, min_l=2, max_t_closeness_ppm=400_000, max_risk_ppm=200_000, allow_synthetic=False
)


def _card(k: int = 8, risk: float = 0.05) -> DatasetCard:
    return DatasetCard(
        columns=(("age", "int64"), ("label", "int64")),
        rows=400,
        quasi_identifiers=("age",),
        sensitive=("label",),
        k=k,
        l=2,
        t_closeness=0.2,
        risks={
            name: Risk(value=risk / 2, ci_low=0.0, ci_high=risk)
            for name in ("singling_out", "linkability", "inference")
        },
        synthetic=False,
        tools={"consentfl": "test"},
        extensions={},
    )


def _study(world: LedgerWorld, name: str) -> StudyId:
    study = study_id(name)
    world.coordinator.studies.create_study(
        study,
        aggregator=sender_of(world.aggregator),
        aggregator_seal_key=Bytes32(bytes(32)),
        min_updates=1,
        metadata_cid="",
    )
    assert world.coordinator.datasets is not None
    world.coordinator.datasets.set_thresholds(study, LIMITS)
    return study


def _publish(
    world: LedgerWorld, store: LocalStore, card: DatasetCard, registered: DatasetCard
) -> Bytes32:
    """Store `card`'s bytes but register `registered`'s scores under its hash."""
    cid = store.put(card.to_bytes())
    inventory = world.hospitals[0].datasets
    assert inventory is not None
    card_hash = Bytes32(card.sha256)
    inventory.register_dataset(card_hash, cid, registered.on_chain())
    return card_hash


def _checks(world: LedgerWorld, store: LocalStore, study: StudyId) -> dict[str, tuple[bool, str]]:
    found = _dataset_checks(world, store, study)
    return {c.check: (c.passed, c.detail) for c in found}


def _dataset_checks(world: LedgerWorld, store: LocalStore, study: StudyId) -> list[AuditCheck]:
    view = LedgerView.read(world.coordinator, store, ExclusionProofs(), study)
    return list(run_checks(view, (DatasetCards(), DatasetThresholds())).checks)


def test_honest_card_passes_both_checks_and_joins_the_full_audit(
    eth_tester_ledger: LedgerWorld, tmp_path: Path
) -> None:
    world, store = eth_tester_ledger, LocalStore(tmp_path)
    study = _study(world, "honest")
    card_hash = _publish(world, store, _card(), _card())
    assert world.hospitals[0].datasets is not None
    world.hospitals[0].datasets.offer_dataset(study, card_hash)
    world.coordinator.studies.add_hospital(study, sender_of(world.hospitals[0]))
    assert _checks(world, store, study) == {
        "dataset-card": (True, "card matches its hash and its registered scores"),
        "dataset-threshold": (True, "meets every threshold"),
    }
    report = AuditVerifier(world.coordinator, store).verify(study)
    assert {"dataset-card", "dataset-threshold"} <= {c.check for c in report.checks}


def test_registered_scores_better_than_the_card_are_caught(
    eth_tester_ledger: LedgerWorld, tmp_path: Path
) -> None:
    world, store = eth_tester_ledger, LocalStore(tmp_path)
    study = _study(world, "liar")
    honest = _card(k=2, risk=0.6)  # what the assessment found: fails min k and max risk
    claimed = _card(k=9, risk=0.01)  # what the hospital registers on chain: passes
    card_hash = _publish(world, store, honest, claimed)
    assert world.hospitals[0].datasets is not None
    world.hospitals[0].datasets.offer_dataset(study, card_hash)
    world.coordinator.studies.add_hospital(study, sender_of(world.hospitals[0]))
    passed, detail = _checks(world, store, study)["dataset-card"]
    assert not passed
    assert "k" in detail
    assert "singling_out_risk_ppm" in detail
    report = AuditVerifier(world.coordinator, store).verify(study)
    assert not report.passed


def test_card_bytes_swapped_after_registration_are_caught(
    eth_tester_ledger: LedgerWorld, tmp_path: Path
) -> None:
    world, store = eth_tester_ledger, LocalStore(tmp_path)
    study = _study(world, "swapped")
    card = _card()
    other_cid = store.put(dataclasses.replace(card, rows=401).to_bytes())
    inventory = world.hospitals[0].datasets
    assert inventory is not None
    inventory.register_dataset(Bytes32(card.sha256), other_cid, card.on_chain())
    inventory.offer_dataset(study, Bytes32(card.sha256))
    world.coordinator.studies.add_hospital(study, sender_of(world.hospitals[0]))
    assert _checks(world, store, study)["dataset-card"] == (
        False,
        "card bytes do not match the registered card hash",
    )


def test_member_admitted_before_thresholds_is_rechecked(
    eth_tester_ledger: LedgerWorld, tmp_path: Path
) -> None:
    world, store = eth_tester_ledger, LocalStore(tmp_path)
    # the fixture's study admitted both hospitals before any threshold existed
    assert world.coordinator.datasets is not None
    weak = _card(k=3)
    card_hash = _publish(world, store, weak, weak)
    assert world.hospitals[0].datasets is not None
    world.hospitals[0].datasets.offer_dataset(world.study, card_hash)
    world.coordinator.datasets.set_thresholds(world.study, LIMITS)
    found = _dataset_checks(world, store, world.study)
    by_hospital = {(c.hospital, c.check): (c.passed, c.detail) for c in found}
    assert by_hospital[(sender_of(world.hospitals[0]), "dataset-threshold")] == (
        False,
        "fails the k threshold",
    )
    assert by_hospital[(sender_of(world.hospitals[1]), "dataset-card")][0] is False
