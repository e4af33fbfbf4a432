"""Batched first consents under one Merkle root (ConsentBatches.sol) on eth-tester: the
patient's signature checked on chain, default deny, lazy records, revocation, replay, forgery."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from chain.audit import AuditVerifier
from chain.consent_batch_errors import (
    AlreadyMaterializedError,
    NotFirstGrantError,
    NotInBatchError,
    PatientsNotAscendingError,
    UnknownBatchError,
)
from chain.consent_batches import BatchMembership
from chain.consent_registry import SignedConsent
from chain.errors import InvalidSignerError, NoActiveConsentError, NotStudyMemberError
from chain.exclusions import ExclusionProofs
from chain.store import LocalStore
from consent.batch_tree import BatchLeaf, batch_root
from consent.index import ConsentIndex
from consent.purposes import ConsentScope
from tests.fixtures.ledger import DEADLINE, LedgerWorld, sender_of
from tests.unit.chain.audit_history import REVOKED_PATIENT, build_history

FAR_FUTURE = 2**40


def _signed(
    world: LedgerWorld, patients: range | list[int], hospital: int = 0
) -> list[SignedConsent]:
    ledger = world.hospitals[hospital]
    return [
        SignedConsent(world.patient(p), 0, world.consent_sig(p, ledger), DEADLINE) for p in patients
    ]


def _member(world: LedgerWorld, patient: int) -> BatchMembership:
    member = world.coordinator.consents.membership(world.study, world.patient(patient))
    assert member is not None
    return member


def test_batch_records_one_root_emits_a_grant_per_patient_and_counts_them(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    hospital = world.hospitals[0]
    (batch,) = hospital.consents.grant_first_batch(world.study, _signed(world, range(5)))
    consents = world.coordinator.consents
    assert batch.batch_id == 1
    assert consents.batch_count(world.study) == 1
    assert consents.batch_root(world.study, 1) == batch.root == batch_root(batch.leaves)
    assert sorted(g.patient for g in batch.granted) == sorted(world.patient(i) for i in range(5))
    assert {(g.nonce, g.hospital) for g in batch.granted} == {(0, sender_of(hospital))}
    assert consents.active_consent_count(world.study, sender_of(hospital)) == 5
    for i in range(5):
        patient = world.patient(i)
        assert not consents.record(world.study, patient).exists  # stored lazily
        assert consents.grant_nonce(world.study, patient) == 0
        assert consents.is_consented_in_batch(world.study, patient, _member(world, i))
    # the consent index sees the same events as for the ordinary path
    head = world.chain.block_number()
    index = ConsentIndex(":memory:")
    index.apply(consents.consent_events(0), synced_through=head)
    patients = [world.patient(i) for i in range(6)]
    mask = index.mask(world.study, index.resolve(patients), head, world.chain.block_timestamp())
    assert mask.consented.tolist() == [True] * 5 + [False]
    assert mask.unknown.tolist() == [False] * 5 + [True]


def test_default_deny_a_wrong_proof_or_wider_terms_do_not_consent(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    world.hospitals[0].consents.grant_first_batch(world.study, _signed(world, range(4)))
    consents = world.coordinator.consents
    member = _member(world, 1)
    outsider = world.patient(5)
    assert not consents.is_consented_in_batch(world.study, outsider, member)
    wider = dataclasses.replace(member, leaf=dataclasses.replace(member.leaf, purposes=0xFF))
    assert not consents.is_consented_in_batch(world.study, world.patient(1), wider)
    no_batch = dataclasses.replace(member, batch_id=9)
    assert not consents.is_consented_in_batch(world.study, world.patient(1), no_batch)
    with pytest.raises(NotInBatchError):
        consents.materialize(world.study, outsider, member)
    with pytest.raises(UnknownBatchError):
        consents.materialize(world.study, world.patient(1), no_batch)
    assert world.coordinator.consents.membership(world.study, outsider) is None


def test_forged_signature_in_a_batch_refuses_the_whole_batch(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    hospital = world.hospitals[0]
    batch = _signed(world, range(4))
    forged_sig = world.consent_sig(2, hospital, signer=world.patients[5])
    batch[2] = dataclasses.replace(batch[2], signature=forged_sig)
    with pytest.raises(InvalidSignerError):
        hospital.consents.grant_first_batch(world.study, batch)
    consents = world.coordinator.consents
    assert consents.batch_count(world.study) == 0
    assert consents.active_consent_count(world.study, sender_of(hospital)) == 0
    assert consents.consent_events(0) == []
    # a signature made for another hospital is not this hospital's consent either
    other = _signed(world, [1], hospital=1)
    with pytest.raises(InvalidSignerError):
        hospital.consents.grant_first_batch(world.study, other)


def test_duplicates_non_members_and_patients_with_history_are_refused(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    hospital = world.hospitals[0]
    twice = _signed(world, [3, 3])
    with pytest.raises(PatientsNotAscendingError):
        hospital.consents.grant_first_batch(world.study, twice)
    with pytest.raises(NotStudyMemberError):
        world.outsider.consents.grant_first_batch(world.study, _signed(world, [1]))
    world.grant(4)  # an ordinary first grant moves the nonce to 1
    with pytest.raises(NotFirstGrantError):
        hospital.consents.grant_first_batch(world.study, _signed(world, [4]))


def test_materialised_batch_consent_revokes_like_any_other_and_cannot_come_back(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    hospital = world.hospitals[0]
    signed = _signed(world, range(3))
    (batch,) = hospital.consents.grant_first_batch(world.study, signed)
    consents = world.coordinator.consents
    patient = world.patient(1)
    member = _member(world, 1)
    world.outsider.consents.materialize(world.study, patient, member)  # anyone may
    record = consents.record(world.study, patient)
    assert (record.hospital, record.granted_block) == (
        sender_of(hospital),
        batch.granted[0].position.block_number,
    )
    assert consents.is_consented(world.study, patient)
    assert consents.grant_nonce(world.study, patient) == 1
    with pytest.raises(AlreadyMaterializedError):
        world.outsider.consents.materialize(world.study, patient, member)
    world.as_sender(world.patients[1]).consents.revoke(world.study)
    assert not consents.is_consented(world.study, patient)
    assert not consents.is_consented_in_batch(world.study, patient, member)
    assert consents.active_consent_count(world.study, sender_of(hospital)) == 2
    # replaying the spent nonce-0 signature, lazily or through the ordinary path, is refused
    with pytest.raises(NotFirstGrantError):
        hospital.consents.grant_first_batch(world.study, [signed[1]])
    with pytest.raises(InvalidSignerError):
        hospital.consents.grant(world.study, patient, 0, DEADLINE, signed[1].signature)
    with pytest.raises(AlreadyMaterializedError):
        world.outsider.consents.materialize(world.study, patient, member)


def test_unmaterialised_batch_consent_has_no_record_to_revoke(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    world.hospitals[0].consents.grant_first_batch(world.study, _signed(world, [2]))
    with pytest.raises(NoActiveConsentError):
        world.as_sender(world.patients[2]).consents.revoke(world.study)


def test_batch_terms_outside_their_validity_period_do_not_consent(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    hospital = world.hospitals[0]
    now = world.chain.block_timestamp()
    later = now + 10_000
    sig = world.consent_sig(0, hospital, valid_from=later, expires_at=FAR_FUTURE)
    consent = SignedConsent(world.patient(0), FAR_FUTURE, sig, DEADLINE, valid_from=later)
    hospital.consents.grant_first_batch(world.study, [consent])
    member = _member(world, 0)
    assert member.leaf == BatchLeaf(
        world.patient(0), ConsentScope.from_mask(1).mask, later, FAR_FUTURE
    )
    assert not world.coordinator.consents.is_consented_in_batch(
        world.study, world.patient(0), member
    )


@pytest.mark.parametrize("forge_root", [False, True])
def test_audit_excludes_a_revoked_batch_enrolled_patient(
    eth_tester_ledger: LedgerWorld, tmp_path: Path, forge_root: bool
) -> None:
    world = eth_tester_ledger
    store = LocalStore(tmp_path / "store")
    proofs_dir = tmp_path / "proofs"
    history = build_history(world, store, proofs_dir, lazy=True, forge_root=forge_root)
    assert world.coordinator.consents.batch_count(world.study) == 2

    report = AuditVerifier(world.coordinator, store, ExclusionProofs.load(proofs_dir)).verify(
        world.study
    )

    exclusions = [c for c in report.checks if c.check == "exclusion"]
    assert history.revoked == world.patient(REVOKED_PATIENT)
    if not forge_root:
        assert report.passed, report.failures
        assert [history.revoked in c.subject for c in exclusions] == [True]
    else:  # the hospital kept training on the revoked (batch-enrolled) patient
        assert not report.passed
        failed = [f for f in report.failures if f.check == "exclusion"]
        assert failed
        assert "does not verify" in failed[0].detail


def test_a_batch_consent_s_record_is_the_one_materializing_writes(
    eth_tester_ledger: LedgerWorld,
) -> None:
    """`BatchConsent.as_record` (what the status route and `consentfl consent status` answer
    before the record exists) equals the record `materializeConsent` then writes."""
    world = eth_tester_ledger
    hospital = world.hospitals[0]
    sig = world.consent_sig(0, hospital, valid_from=5, expires_at=FAR_FUTURE)
    consent = SignedConsent(world.patient(0), FAR_FUTURE, sig, DEADLINE, valid_from=5)
    hospital.consents.grant_first_batch(world.study, [consent])
    consents = world.coordinator.consents
    found = consents.batch_consent(world.study, world.patient(0))
    assert found is not None
    before = found.as_record()
    assert not consents.record(world.study, world.patient(0)).exists
    world.outsider.consents.materialize(world.study, world.patient(0), _member(world, 0))
    written = consents.record(world.study, world.patient(0))
    assert before.exists
    assert (before.hospital, before.granted_block, before.revoked_block) == (
        written.hospital,
        written.granted_block,
        0,
    )
    assert (before.expires_at, before.valid_from, before.purposes) == (
        written.expires_at,
        written.valid_from,
        written.purposes,
    )
