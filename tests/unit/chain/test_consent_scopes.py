"""Consent scopes on chain: a study's declared purpose, grants with DUO purposes and a validity
period, per-purpose revocation, and the patient count bound that only covering consents raise."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chain.errors import (
    InvalidPurposesError,
    InvalidSignerError,
    InvalidStudyPurposeError,
    InvalidValidityError,
    NoActiveConsentError,
    NotStudyCoordinatorError,
    StudyPurposeLockedError,
)
from chain.events import StudyPurposeDeclared
from chain.round_ledger_errors import InvalidPatientCountError, StaleConsentError
from consent.eip712 import sign_purpose_revocation
from consent.events import ConsentRevoked, PurposesRevoked
from consent.ids import Bytes32, StudyId, study_id
from consent.purposes import (
    DISEASES,
    GRU,
    HMB,
    ConsentScope,
    Purpose,
    StudyPurpose,
    covers_mask,
)
from consent.records import UpdateSubmission
from tests.fixtures.ledger import LedgerWorld, sender_of

HMB_STUDY = StudyPurpose(HMB)
DS_CANCER = ConsentScope.parse(["DS-CANCER"])
HMB_AND_CANCER = ConsentScope.parse(["HMB", "DS-CANCER"])
FAR_FUTURE = 2**40


def _submit(world: LedgerWorld, study: StudyId, num_patients: int) -> None:
    """Open round 0 and submit hospital 0's update bounded by `num_patients`."""
    world.aggregator.rounds.open_round(study, 0, Bytes32(b"\x01" * 32), "bafkreibase")
    block = world.chain.block_number()
    submission = UpdateSubmission(
        update_hash=Bytes32(b"\x02" * 32),
        update_cid="bafkreiupdate",
        num_samples=10,
        num_patients=num_patients,
        data_root=Bytes32(b"\x03" * 32),
        consent_block=block,
    )
    world.hospitals[0].rounds.submit_update(study, 0, submission)


def test_the_coordinator_declares_a_purpose_once_with_its_event(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    study = study_id("declared")
    world.coordinator.studies.create_study(
        study,
        aggregator=sender_of(world.aggregator),
        aggregator_seal_key=Bytes32(b"\x42" * 32),
        min_updates=1,
        metadata_cid="bafkreimetadata",
    )
    assert world.coordinator.studies.study_purpose(study) is None
    event = world.coordinator.studies.declare_purpose(study, StudyPurpose.parse("DS-CANCER"))
    assert isinstance(event, StudyPurposeDeclared)
    assert event.purpose == StudyPurpose.parse("DS-CANCER")
    assert world.coordinator.studies.study_purpose(study) == StudyPurpose.parse("DS-CANCER")
    with pytest.raises(StudyPurposeLockedError):
        world.coordinator.studies.declare_purpose(study, HMB_STUDY)


def test_a_purpose_cannot_change_once_a_hospital_is_admitted(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    with pytest.raises(StudyPurposeLockedError):
        world.coordinator.studies.declare_purpose(world.study, HMB_STUDY)


def test_only_the_coordinator_declares_and_only_one_purpose(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    study = study_id("undeclared")
    world.coordinator.studies.create_study(
        study,
        aggregator=sender_of(world.aggregator),
        aggregator_seal_key=Bytes32(b"\x42" * 32),
        min_updates=1,
        metadata_cid="bafkreimetadata",
    )
    with pytest.raises(NotStudyCoordinatorError):
        world.hospitals[0].studies.declare_purpose(study, HMB_STUDY)
    with pytest.raises(InvalidStudyPurposeError):
        world.coordinator.studies._transact(
            120_000, "declarePurpose", bytes(study), GRU.bit | HMB.bit
        )
    assert world.coordinator.studies.study_purpose(study) is None


def test_a_disease_only_consent_does_not_count_for_an_hmb_study(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    study = world.scoped_study("hmb-study", HMB_STUDY)
    consents = world.coordinator.consents
    granted = world.grant(0, study=study, scope=DS_CANCER)
    world.grant(1, study=study, scope=HMB_AND_CANCER)

    assert granted.purposes == DS_CANCER.mask
    assert not consents.is_consented(study, world.patient(0))
    assert consents.is_consented(study, world.patient(1))
    record = consents.record(study, world.patient(0))
    assert (record.purposes, record.covers_study) == (DS_CANCER.mask, False)
    assert consents.active_consent_count(study, sender_of(world.hospitals[0])) == 1


def test_the_contract_refuses_a_patient_count_that_includes_an_uncovered_patient(
    eth_tester_ledger: LedgerWorld,
) -> None:
    """Attack: a hospital holds two consents but one is DS-CANCER only in an HMB study; it
    claims both patients in its update. The contract's bound only counts covering consents."""
    world = eth_tester_ledger
    study = world.scoped_study("hmb-count", HMB_STUDY)
    world.grant(0, study=study, scope=DS_CANCER)
    world.grant(1, study=study, scope=HMB_AND_CANCER)
    with pytest.raises(InvalidPatientCountError) as info:
        _submit(world, study, num_patients=2)
    assert info.value.arguments["active_consents"] == 1


def test_withdrawing_the_covering_purpose_stops_counting_and_moves_freshness(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    study = world.scoped_study("hmb-withdraw", HMB_STUDY)
    hospital = sender_of(world.hospitals[0])
    world.grant(0, study=study, scope=HMB_AND_CANCER)
    patient = world.as_sender(world.patients[0]).consents

    event = patient.revoke_purposes(study, HMB.bit)

    assert isinstance(event, PurposesRevoked)
    assert (event.revoked, event.remaining) == (HMB.bit, DS_CANCER.mask)
    assert event.hospital == hospital
    consents = world.coordinator.consents
    assert not consents.is_consented(study, world.patient(0))
    assert consents.active_consent_count(study, hospital) == 0
    assert consents.last_revocation_block(study, hospital) == event.position.block_number
    assert consents.record(study, world.patient(0)).revoked_block == 0  # still granted: DS-CANCER


def test_withdrawing_a_purpose_the_study_does_not_need_keeps_the_consent_counting(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    study = world.scoped_study("cancer-withdraw", StudyPurpose.parse("DS-CANCER"))
    hospital = sender_of(world.hospitals[0])
    world.grant(0, study=study, scope=HMB_AND_CANCER)
    before = world.coordinator.consents.last_revocation_block(study, hospital)

    world.as_sender(world.patients[0]).consents.revoke_purposes(study, HMB.bit)

    consents = world.coordinator.consents
    assert consents.is_consented(study, world.patient(0))
    assert consents.active_consent_count(study, hospital) == 1
    assert consents.last_revocation_block(study, hospital) == before


def test_withdrawing_every_purpose_is_a_revocation(eth_tester_ledger: LedgerWorld) -> None:
    world = eth_tester_ledger
    study = world.scoped_study("hmb-all", HMB_STUDY)
    world.grant(0, study=study, scope=HMB_AND_CANCER)
    event = world.as_sender(world.patients[0]).consents.revoke_purposes(study, HMB_AND_CANCER.mask)
    assert isinstance(event, ConsentRevoked)
    assert world.coordinator.consents.record(study, world.patient(0)).revoked_block != 0
    with pytest.raises(NoActiveConsentError):
        world.as_sender(world.patients[0]).consents.revoke_purposes(study, HMB.bit)


def test_withdrawing_a_purpose_never_granted_or_the_modifier_is_refused(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    study = world.scoped_study("hmb-bad-withdraw", HMB_STUDY)
    world.grant(0, study=study, scope=ConsentScope.parse(["HMB", "NMDS"]))
    patient = world.as_sender(world.patients[0]).consents
    with pytest.raises(InvalidPurposesError):
        patient.revoke_purposes(study, GRU.bit)
    with pytest.raises(InvalidPurposesError):
        patient.revoke_purposes(study, 1 << 2)  # NMDS: withdrawing it would widen the consent
    with pytest.raises(InvalidPurposesError):
        patient.revoke_purposes(study, 0)
    assert world.coordinator.consents.is_consented(study, world.patient(0))


def test_a_relayed_purpose_revocation_needs_the_patients_signature_of_those_purposes(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    study = world.scoped_study("hmb-relay", HMB_STUDY)
    world.grant(0, study=study, scope=HMB_AND_CANCER)
    consents = world.coordinator.consents
    nonce = consents.revocation_nonce(study, world.patient(0))
    key = world.patients[0].key
    signed_cancer = sign_purpose_revocation(
        key, consents.domain, study, world.patient(0), DS_CANCER.mask, nonce, FAR_FUTURE
    )
    with pytest.raises(InvalidSignerError):  # relayer swaps in HMB for the signed DS-CANCER
        world.outsider.consents.revoke_purposes_with_sig(
            study, world.patient(0), HMB.bit, FAR_FUTURE, signed_cancer
        )
    event = world.outsider.consents.revoke_purposes_with_sig(
        study, world.patient(0), DS_CANCER.mask, FAR_FUTURE, signed_cancer
    )
    assert isinstance(event, PurposesRevoked)
    assert event.remaining == HMB.bit
    with pytest.raises(InvalidSignerError):  # replay: the revocation nonce moved on
        world.outsider.consents.revoke_purposes_with_sig(
            study, world.patient(0), DS_CANCER.mask, FAR_FUTURE, signed_cancer
        )


def test_a_consent_counts_only_inside_its_validity_period(eth_tester_ledger: LedgerWorld) -> None:
    world = eth_tester_ledger
    study = world.scoped_study("hmb-validity", HMB_STUDY)
    # the next block's clock is the later of the snapshot's block and the wall clock
    start = max(world.chain.block_timestamp() + 1, int(time.time())) + 1000
    world.grant(0, study=study, scope=HMB_AND_CANCER, valid_from=start)
    consents = world.coordinator.consents
    assert consents.record(study, world.patient(0)).valid_from == start
    assert not consents.is_consented(study, world.patient(0))
    world.chain.advance_time(start + 1 - world.chain.block_timestamp())
    assert consents.is_consented(study, world.patient(0))


def test_an_empty_validity_period_or_an_empty_scope_is_refused(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    study = world.scoped_study("hmb-invalid", HMB_STUDY)
    now = max(world.chain.block_timestamp() + 1, int(time.time()))
    with pytest.raises(InvalidValidityError):
        world.grant(0, study=study, valid_from=now + 500, expires_at=now + 400)
    hospital = world.hospitals[0]
    signature = world.consent_sig(0, hospital, study=study)
    with pytest.raises(InvalidPurposesError):
        hospital.consents._transact(
            300_000,
            "grantWithSig",
            bytes(study),
            world.patient(0),
            (1 << 2, 0, 0),  # NMDS alone: no purpose
            2**40,
            signature,
        )
    assert not world.coordinator.consents.record(study, world.patient(0)).exists


def test_a_renewal_that_no_longer_covers_lowers_the_count_and_moves_freshness(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    study = world.scoped_study("hmb-renewal", HMB_STUDY)
    hospital = sender_of(world.hospitals[0])
    world.grant(0, study=study, scope=HMB_AND_CANCER)
    renewed = world.grant(0, study=study, scope=DS_CANCER)
    consents = world.coordinator.consents
    assert consents.active_consent_count(study, hospital) == 0
    assert consents.last_revocation_block(study, hospital) == renewed.position.block_number
    with pytest.raises((InvalidPatientCountError, StaleConsentError)):
        _submit(world, study, num_patients=1)


_PURPOSES = st.sampled_from([GRU, HMB, *(Purpose("DS", d) for d in DISEASES)])
_SCOPES = st.builds(ConsentScope, st.frozensets(_PURPOSES, min_size=1, max_size=3), st.booleans())
_STUDIES = st.builds(StudyPurpose, _PURPOSES, st.booleans())


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(scope=_SCOPES, purpose=_STUDIES)
def test_the_contracts_coverage_rule_is_the_python_one(
    eth_tester_ledger: LedgerWorld, scope: ConsentScope, purpose: StudyPurpose
) -> None:
    consents = eth_tester_ledger.coordinator.consents
    assert consents.purposes_cover(scope.mask, purpose.mask) == covers_mask(
        scope.mask, purpose.mask
    )
