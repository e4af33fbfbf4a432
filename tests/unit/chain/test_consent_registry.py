"""ConsentRegistry on eth-tester: signed grants, revocations, expiry, replay and forgery."""

from __future__ import annotations

import dataclasses
import time

import pytest

from chain.consent_registry import SignedConsent
from chain.errors import (
    ConsentAlreadyExpiredError,
    ECDSAInvalidSignatureError,
    ECDSAInvalidSignatureLengthError,
    ECDSAInvalidSignatureSError,
    InvalidSignerError,
    LengthMismatchError,
    NoActiveConsentError,
    NotStudyMemberError,
    SignatureExpiredError,
    UnknownStudyError,
    ZeroPatientError,
)
from consent.eip712 import sign_consent
from consent.events import ConsentGranted, ConsentRevoked
from consent.ids import Address, study_id
from tests.fixtures.ledger import DEADLINE, LedgerWorld, sender_of

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
FAR_FUTURE = 2**40


def test_no_grant_means_no_consent(eth_tester_ledger: LedgerWorld) -> None:
    world = eth_tester_ledger
    consents = world.coordinator.consents
    assert not consents.is_consented(world.study, world.patient(0))
    assert not consents.record(world.study, world.patient(0)).exists
    assert consents.status_batch(world.study, [world.patient(0), world.patient(1)]) == [
        False,
        False,
    ]


def test_grant_with_patient_signature_emits_event_and_consents(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    event = world.grant(0, expires_at=FAR_FUTURE)
    consents = world.coordinator.consents
    assert isinstance(event, ConsentGranted)
    assert (event.patient, event.hospital) == (world.patient(0), sender_of(world.hospitals[0]))
    assert (event.study, event.expires_at, event.nonce) == (world.study, FAR_FUTURE, 0)
    assert event.block_timestamp == world.chain.block_timestamp(event.position.block_number)
    record = consents.record(world.study, world.patient(0))
    assert record.granted_block == event.position.block_number
    assert (record.revoked_block, record.expires_at) == (0, FAR_FUTURE)
    assert consents.is_consented(world.study, world.patient(0))
    assert consents.grant_nonce(world.study, world.patient(0)) == 1
    assert consents.revocation_nonce(world.study, world.patient(0)) == 0
    assert consents.active_consent_count(world.study, sender_of(world.hospitals[0])) == 1
    assert consents.consent_events(event.position.block_number) == [event]


def test_batch_grant_emits_one_event_per_patient(eth_tester_ledger: LedgerWorld) -> None:
    world = eth_tester_ledger
    hospital = world.hospitals[0]
    batch = [
        SignedConsent(world.patient(i), 0, world.consent_sig(i, hospital), DEADLINE)
        for i in (1, 2, 3)
    ]
    events = hospital.consents.grant_batch(world.study, batch)
    assert [e.patient for e in events] == [world.patient(i) for i in (1, 2, 3)]
    assert hospital.consents.status_batch(world.study, [world.patient(i) for i in range(5)]) == [
        False,
        True,
        True,
        True,
        False,
    ]


def test_batch_grant_with_one_bad_signature_records_nothing(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    hospital = world.hospitals[0]
    good = SignedConsent(world.patient(1), 0, world.consent_sig(1, hospital), DEADLINE)
    forged = SignedConsent(
        world.patient(2), 0, world.consent_sig(2, hospital, signer=world.patients[3]), DEADLINE
    )
    with pytest.raises(InvalidSignerError):
        hospital.consents.grant_batch(world.study, [good, forged])
    assert not hospital.consents.is_consented(world.study, world.patient(1))


def test_batch_grant_with_mismatched_lengths_raises_length_mismatch(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    consents = world.hospitals[0].consents
    with pytest.raises(LengthMismatchError) as info:
        consents._transact(
            200_000, "grantBatchWithSig", world.study, [world.patient(0)], [], [], []
        )
    assert info.value.arguments == {"patients": 1, "expiries": 0, "deadlines": 0, "signatures": 0}


def test_hospital_signing_for_the_patient_is_rejected_as_invalid_signer(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    hospital = world.hospitals[0]
    # the hospital's own key (eth-tester account 3 = private key 3) signs the patient's consent
    own_sig = sign_consent(
        b"\x00" * 31 + b"\x03",
        hospital.consents.domain,
        world.study,
        world.patient(0),
        sender_of(hospital),
        0,
        0,
        DEADLINE,
    )
    with pytest.raises(InvalidSignerError) as info:
        hospital.consents.grant(world.study, world.patient(0), 0, DEADLINE, own_sig)
    assert info.value.arguments["signer"] == sender_of(hospital)
    assert info.value.arguments["patient"] == world.patient(0)
    assert not hospital.consents.is_consented(world.study, world.patient(0))


def test_signature_for_another_hospital_is_rejected(eth_tester_ledger: LedgerWorld) -> None:
    world = eth_tester_ledger
    signature = world.consent_sig(0, world.hospitals[1])
    with pytest.raises(InvalidSignerError):
        world.hospitals[0].consents.grant(world.study, world.patient(0), 0, DEADLINE, signature)


def test_replayed_grant_signature_is_rejected(eth_tester_ledger: LedgerWorld) -> None:
    world = eth_tester_ledger
    hospital = world.hospitals[0]
    signature = world.consent_sig(0, hospital)
    hospital.consents.grant(world.study, world.patient(0), 0, DEADLINE, signature)
    with pytest.raises(InvalidSignerError):
        hospital.consents.grant(world.study, world.patient(0), 0, DEADLINE, signature)


def test_signature_for_another_chain_is_rejected(eth_tester_ledger: LedgerWorld) -> None:
    world = eth_tester_ledger
    hospital = world.hospitals[0]
    other_chain = dataclasses.replace(hospital.consents.domain, chain_id=1)
    signature = sign_consent(
        world.patients[0].key,
        other_chain,
        world.study,
        world.patient(0),
        sender_of(hospital),
        0,
        0,
        DEADLINE,
    )
    with pytest.raises(InvalidSignerError):
        hospital.consents.grant(world.study, world.patient(0), 0, DEADLINE, signature)


def test_malleable_high_s_signature_is_rejected(eth_tester_ledger: LedgerWorld) -> None:
    world = eth_tester_ledger
    hospital = world.hospitals[0]
    signature = world.consent_sig(0, hospital)
    r, s, v = signature[:32], int.from_bytes(signature[32:64], "big"), signature[64]
    flipped = r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])
    with pytest.raises(ECDSAInvalidSignatureSError):
        hospital.consents.grant(world.study, world.patient(0), 0, DEADLINE, flipped)


def test_unrecoverable_and_short_signatures_are_rejected(eth_tester_ledger: LedgerWorld) -> None:
    world = eth_tester_ledger
    consents = world.hospitals[0].consents
    signature = world.consent_sig(0, world.hospitals[0])
    with pytest.raises(ECDSAInvalidSignatureError):
        consents.grant(world.study, world.patient(0), 0, DEADLINE, signature[:64] + bytes([30]))
    with pytest.raises(ECDSAInvalidSignatureLengthError) as info:
        consents.grant(world.study, world.patient(0), 0, DEADLINE, signature[:64])
    assert info.value.arguments["length"] == 64


def test_grant_by_non_member_raises_not_study_member(eth_tester_ledger: LedgerWorld) -> None:
    world = eth_tester_ledger
    signature = world.consent_sig(0, world.outsider)
    with pytest.raises(NotStudyMemberError):
        world.outsider.consents.grant(world.study, world.patient(0), 0, DEADLINE, signature)


def test_grant_in_unknown_study_raises_unknown_study(eth_tester_ledger: LedgerWorld) -> None:
    world = eth_tester_ledger
    with pytest.raises(UnknownStudyError):
        world.hospitals[0].consents.grant(
            study_id("nope"), world.patient(0), 0, DEADLINE, b"\x00" * 65
        )


def test_grant_for_zero_patient_raises_zero_patient(eth_tester_ledger: LedgerWorld) -> None:
    world = eth_tester_ledger
    zero = Address("0x0000000000000000000000000000000000000000")
    with pytest.raises(ZeroPatientError):
        world.hospitals[0].consents.grant(world.study, zero, 0, DEADLINE, b"\x00" * 65)


def test_grant_already_expired_raises_consent_already_expired(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    past = world.chain.block_timestamp() - 10
    with pytest.raises(ConsentAlreadyExpiredError) as info:
        world.grant(0, expires_at=past)
    assert info.value.arguments["expires_at"] == past


def test_consent_stops_counting_once_expired(eth_tester_ledger: LedgerWorld) -> None:
    world = eth_tester_ledger
    # The session chain is reverted to a snapshot whose latest block can be minutes old while
    # eth-tester stamps the next block with the wall clock: expire 100 s after the later of the
    # two, and move the clock to just past the expiry (not by a fixed amount from the old block).
    expires_at = max(world.chain.block_timestamp() + 1, int(time.time())) + 100
    world.grant(0, expires_at=expires_at)
    consents = world.coordinator.consents
    assert consents.is_consented(world.study, world.patient(0))
    world.chain.advance_time(expires_at + 1 - world.chain.block_timestamp())
    assert not consents.is_consented(world.study, world.patient(0))
    assert consents.status_batch(world.study, [world.patient(0)]) == [False]


def test_patient_revokes_directly_with_event_and_last_revocation_block(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    world.grant(0)
    event = world.as_sender(world.patients[0]).consents.revoke(world.study)
    consents = world.coordinator.consents
    assert isinstance(event, ConsentRevoked)
    assert (event.patient, event.hospital) == (world.patient(0), sender_of(world.hospitals[0]))
    assert not consents.is_consented(world.study, world.patient(0))
    assert (
        consents.record(world.study, world.patient(0)).revoked_block == event.position.block_number
    )
    hospital = sender_of(world.hospitals[0])
    assert consents.last_revocation_block(world.study, hospital) == event.position.block_number
    assert consents.last_revocation_block(world.study, sender_of(world.hospitals[1])) == 0


def test_relayed_revocation_with_signature_revokes(eth_tester_ledger: LedgerWorld) -> None:
    world = eth_tester_ledger
    world.grant(0)
    signature = world.revocation_sig(0, deadline=FAR_FUTURE)
    event = world.outsider.consents.revoke_with_sig(
        world.study, world.patient(0), FAR_FUTURE, signature
    )
    assert event.patient == world.patient(0)
    assert not world.coordinator.consents.is_consented(world.study, world.patient(0))


def test_relayed_revocation_past_deadline_raises_signature_expired(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    world.grant(0)
    deadline = world.chain.block_timestamp() - 1
    signature = world.revocation_sig(0, deadline=deadline)
    with pytest.raises(SignatureExpiredError):
        world.outsider.consents.revoke_with_sig(world.study, world.patient(0), deadline, signature)


def test_relayed_revocation_replayed_or_forged_is_rejected(eth_tester_ledger: LedgerWorld) -> None:
    world = eth_tester_ledger
    world.grant(0)
    signature = world.revocation_sig(0, deadline=FAR_FUTURE)
    world.outsider.consents.revoke_with_sig(world.study, world.patient(0), FAR_FUTURE, signature)
    world.grant(0)
    with pytest.raises(InvalidSignerError):
        world.outsider.consents.revoke_with_sig(
            world.study, world.patient(0), FAR_FUTURE, signature
        )
    forged = world.revocation_sig(
        1,
        deadline=FAR_FUTURE,
        nonce=world.coordinator.consents.revocation_nonce(world.study, world.patient(0)),
    )
    with pytest.raises(InvalidSignerError):
        world.outsider.consents.revoke_with_sig(world.study, world.patient(0), FAR_FUTURE, forged)
    assert world.coordinator.consents.is_consented(world.study, world.patient(0))


def test_revoking_without_active_consent_raises_no_active_consent(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    patient = world.as_sender(world.patients[0]).consents
    with pytest.raises(NoActiveConsentError):
        patient.revoke(world.study)
    world.grant(0)
    patient.revoke(world.study)
    with pytest.raises(NoActiveConsentError) as info:
        patient.revoke(world.study)
    assert info.value.arguments["patient"] == world.patient(0)


def test_regrant_after_revocation_needs_a_fresh_signature_and_overwrites_the_record(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    hospital = world.hospitals[0]
    first_sig = world.consent_sig(0, hospital)
    hospital.consents.grant(world.study, world.patient(0), 0, DEADLINE, first_sig)
    world.as_sender(world.patients[0]).consents.revoke(world.study)
    with pytest.raises(InvalidSignerError):
        hospital.consents.grant(world.study, world.patient(0), 0, DEADLINE, first_sig)
    again = world.grant(0)
    record = hospital.consents.record(world.study, world.patient(0))
    assert (record.granted_block, record.revoked_block) == (again.position.block_number, 0)
    assert hospital.consents.is_consented(world.study, world.patient(0))


def test_grant_to_another_hospital_revokes_the_previous_one(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    world.grant(0, hospital=0)
    moved = world.grant(0, hospital=1)
    events = world.coordinator.consents.consent_events(moved.position.block_number)
    assert [type(e) for e in events] == [ConsentRevoked, ConsentGranted]
    assert events[0].hospital == sender_of(world.hospitals[0])
    consents = world.coordinator.consents
    assert consents.record(world.study, world.patient(0)).hospital == sender_of(world.hospitals[1])
    old = sender_of(world.hospitals[0])
    assert consents.last_revocation_block(world.study, old) == moved.position.block_number


def test_domain_separator_matches_the_python_domain(eth_tester_ledger: LedgerWorld) -> None:
    from eth_account.messages import encode_typed_data

    world = eth_tester_ledger
    consents = world.coordinator.consents
    domain = consents.domain
    assert domain.chain_id == world.chain.chain_id
    message = encode_typed_data(
        full_message={
            "types": {
                "EIP712Domain": [
                    {"name": "name", "type": "string"},
                    {"name": "version", "type": "string"},
                    {"name": "chainId", "type": "uint256"},
                    {"name": "verifyingContract", "type": "address"},
                ],
                "Empty": [],
            },
            "primaryType": "Empty",
            "domain": domain.as_dict(),
            "message": {},
        }
    )
    assert consents.domain_separator() == message.header
