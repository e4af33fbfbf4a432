"""ConsentRegistry.revokeBatchWithSig on eth-tester: every entry checked like revokeWithSig; a bad
entry is skipped (nonce unused, nothing changed) with a RevocationSkipped event, never sinking
the others and never silently."""

from __future__ import annotations

import pytest

from chain.consent_registry import RevocationBatchOutcome, SignedRevocation
from chain.revocation_errors import RevocationBatchMismatchError
from consent.events import ConsentRevoked
from tests.fixtures.ledger import LedgerWorld, sender_of

FAR_FUTURE = 2**40


def _signed(world: LedgerWorld, patient: int, **kwargs: int) -> SignedRevocation:
    deadline = kwargs.pop("deadline", FAR_FUTURE)
    return SignedRevocation(
        world.patient(patient), deadline, world.revocation_sig(patient, deadline=deadline, **kwargs)
    )


def _send(world: LedgerWorld, batch: list[SignedRevocation]) -> RevocationBatchOutcome:
    consents = world.outsider.consents
    return consents.revoke_batch_outcome(consents.send_revoke_batch(world.study, batch))


def test_batch_of_valid_signatures_revokes_every_patient_with_one_event_each(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    for i in range(4):
        world.grant(i)
    outcome = _send(world, [_signed(world, i) for i in range(4)])
    consents = world.coordinator.consents
    assert sorted(outcome.revoked) == sorted(world.patient(i) for i in range(4))
    assert outcome.skipped == {}
    hospital = sender_of(world.hospitals[0])
    for i in range(4):
        event = outcome.revoked[world.patient(i)]
        assert isinstance(event, ConsentRevoked)
        assert (event.study, event.hospital) == (world.study, hospital)
        assert not consents.is_consented(world.study, world.patient(i))
        assert consents.revocation_nonce(world.study, world.patient(i)) == 1
    block = outcome.revoked[world.patient(0)].position.block_number
    assert consents.last_revocation_block(world.study, hospital) == block
    assert consents.active_consent_count(world.study, hospital) == 0


def test_bad_signature_is_skipped_with_an_event_and_the_others_land(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    for i in range(3):
        world.grant(i)
    forged = SignedRevocation(
        world.patient(1),
        FAR_FUTURE,
        world.revocation_sig(2, deadline=FAR_FUTURE, nonce=0),  # patient 2 signs for patient 1
    )
    outcome = _send(world, [_signed(world, 0), forged, _signed(world, 2)])
    consents = world.coordinator.consents
    assert sorted(outcome.revoked) == sorted([world.patient(0), world.patient(2)])
    skipped = outcome.skipped[world.patient(1)]
    assert (skipped.study, skipped.reason) == (world.study, "InvalidSigner")
    assert consents.is_consented(world.study, world.patient(1))
    assert consents.revocation_nonce(world.study, world.patient(1)) == 0  # nonce not used
    assert consents.active_consent_count(world.study, sender_of(world.hospitals[0])) == 1


def test_expired_malformed_revoked_and_repeated_entries_are_skipped_by_reason(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    for i in range(4):
        world.grant(i)
    past = world.chain.block_timestamp() - 1
    expired = _signed(world, 0, deadline=past)
    short = SignedRevocation(world.patient(1), FAR_FUTURE, _signed(world, 1).signature[:64])
    first = _signed(world, 2)
    never = _signed(world, 5)  # patient 5 never consented
    outcome = _send(world, [expired, short, first, first, never])
    reasons = {p: s.reason for p, s in outcome.skipped.items()}
    assert reasons == {
        world.patient(0): "SignatureExpired",
        world.patient(1): "InvalidSigner",
        world.patient(2): "NoActiveConsent",  # the repeat: revoked once, by the first entry
        world.patient(5): "NoActiveConsent",
    }
    assert list(outcome.revoked) == [world.patient(2)]
    consents = world.coordinator.consents
    assert consents.is_consented(world.study, world.patient(0))
    assert consents.is_consented(world.study, world.patient(1))
    assert consents.revocation_nonce(world.study, world.patient(2)) == 1


def test_resending_a_landed_batch_changes_nothing(eth_tester_ledger: LedgerWorld) -> None:
    world = eth_tester_ledger
    world.grant(0)
    batch = [_signed(world, 0)]
    first = _send(world, batch)
    again = _send(world, batch)
    assert list(first.revoked) == [world.patient(0)]
    assert again.revoked == {}
    assert again.skipped[world.patient(0)].reason == "NoActiveConsent"
    events = world.coordinator.consents.consent_events(0)
    revoked = [e for e in events if isinstance(e, ConsentRevoked)]
    assert [e.patient for e in revoked] == [world.patient(0)]


def test_batch_arrays_of_different_lengths_revert_with_mismatch(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    world.grant(0)
    signed = _signed(world, 0)
    with pytest.raises(RevocationBatchMismatchError) as caught:
        world.outsider.consents._transact(  # the facade never builds a mismatched batch
            200_000,
            "revokeBatchWithSig",
            bytes(world.study),
            [signed.patient],
            [],
            [signed.signature],
        )
    assert caught.value.arguments == {"patients": 1, "deadlines": 0, "signatures": 1}
    assert world.coordinator.consents.is_consented(world.study, world.patient(0))


def test_empty_or_oversized_batch_is_refused_before_sending(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    with pytest.raises(ValueError, match="1 to 200"):
        world.outsider.consents.send_revoke_batch(world.study, [])
