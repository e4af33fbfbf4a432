"""The relayer's journal (0600, temp + rename, refused by name when unreadable) and the relay's
resend of journalled revocations on restart, on eth-tester."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

import pytest

from chain.consent_registry import SignedConsent, SignedRevocation
from chain.relay import PatientNotEnrolledError, RevocationRelay
from chain.relay_journal import RelayJournalError, RevocationJournal
from consent.events import ConsentRevoked
from consent.ids import Address, StudyId
from tests.fixtures.ledger import DEADLINE, LedgerWorld

FAR_FUTURE = 2**40


def _signed(world: LedgerWorld, patient: int) -> SignedRevocation:
    return SignedRevocation(
        world.patient(patient), FAR_FUTURE, world.revocation_sig(patient, deadline=FAR_FUTURE)
    )


def _revocations_of(world: LedgerWorld, patient: Address) -> list[ConsentRevoked]:
    events = world.coordinator.consents.consent_events(0)
    return [e for e in events if isinstance(e, ConsentRevoked) and e.patient == patient]


def _wait_empty(journal: RevocationJournal) -> None:
    deadline = time.monotonic() + 30
    while journal.pending() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert journal.pending() == []


def test_journal_survives_reopening_and_is_private(
    eth_tester_ledger: LedgerWorld, tmp_path: Path
) -> None:
    world = eth_tester_ledger
    path = tmp_path / "relayer.journal.json"
    journal = RevocationJournal(path)
    first, second = _signed(world, 0), _signed(world, 1)
    journal.add(world.study, [first, second])
    assert path.stat().st_mode & 0o777 == 0o600
    assert RevocationJournal(path).pending() == [(world.study, first), (world.study, second)]
    journal.remove(world.study, [first.patient])
    assert RevocationJournal(path).pending() == [(world.study, second)]
    assert list(tmp_path.iterdir()) == [path]  # no temp file left behind


@pytest.mark.parametrize(
    "text", ["not json", '{"version": 7, "pending": []}', '{"version": 1, "pending": [{}]}']
)
def test_unreadable_journal_is_refused_by_name_and_left_alone(tmp_path: Path, text: str) -> None:
    path = tmp_path / "relayer.journal.json"
    path.write_text(text)
    with pytest.raises(RelayJournalError, match="relayer journal"):
        RevocationJournal(path)
    assert path.read_text() == text


def test_restarted_relay_resends_a_journalled_revocation_once(
    eth_tester_ledger: LedgerWorld, tmp_path: Path
) -> None:
    world = eth_tester_ledger
    world.grant(0)
    world.grant(1)
    path = tmp_path / "relayer.journal.json"
    # what a relay killed after accepting (journal written) and before mining leaves behind
    RevocationJournal(path).add(world.study, [_signed(world, 0)])
    journal = RevocationJournal(path)
    relay = RevocationRelay(world.outsider, journal=journal)
    assert relay.resumed == 1
    _wait_empty(journal)
    assert len(_revocations_of(world, world.patient(0))) == 1
    assert not world.coordinator.consents.is_consented(world.study, world.patient(0))
    assert world.coordinator.consents.is_consented(world.study, world.patient(1))


def test_resending_a_revocation_that_landed_before_the_crash_does_not_revoke_twice(
    eth_tester_ledger: LedgerWorld, tmp_path: Path
) -> None:
    world = eth_tester_ledger
    world.grant(0)
    signed = _signed(world, 0)
    path = tmp_path / "relayer.journal.json"
    RevocationJournal(path).add(world.study, [signed])
    world.outsider.consents.revoke_with_sig(  # the first send was mined; the crash lost the news
        world.study, signed.patient, signed.deadline, signed.signature
    )
    journal = RevocationJournal(path)
    RevocationRelay(world.outsider, journal=journal)
    _wait_empty(journal)
    assert len(_revocations_of(world, world.patient(0))) == 1
    assert world.coordinator.consents.revocation_nonce(world.study, world.patient(0)) == 1


def test_repeated_request_after_the_revocation_landed_is_answered_as_already_revoked(
    eth_tester_ledger: LedgerWorld, tmp_path: Path
) -> None:
    world = eth_tester_ledger
    world.grant(0)
    journal = RevocationJournal(tmp_path / "j.json")
    relay = RevocationRelay(world.outsider, journal=journal)
    signed = _signed(world, 0)
    first = relay.revoke(
        world.study, signed.patient, deadline=signed.deadline, signature=signed.signature
    )
    again = relay.revoke(
        world.study, signed.patient, deadline=signed.deadline, signature=signed.signature
    )
    assert (first.already_revoked, again.already_revoked) == (False, True)
    assert first.event == again.event
    assert journal.pending() == []
    assert len(_revocations_of(world, world.patient(0))) == 1


def test_relay_revokes_a_batch_enrolled_patient_by_materialising_its_record_first(
    eth_tester_ledger: LedgerWorld, tmp_path: Path
) -> None:
    world = eth_tester_ledger
    hospital = world.hospitals[0]
    consent = SignedConsent(world.patient(0), 0, world.consent_sig(0, hospital), DEADLINE)
    hospital.consents.grant_first_batch(world.study, [consent])
    consents = world.coordinator.consents
    assert not consents.record(world.study, world.patient(0)).exists
    relay = RevocationRelay(world.outsider, journal=RevocationJournal(tmp_path / "j.json"))
    signed = _signed(world, 0)

    relayed = relay.revoke(
        world.study, signed.patient, deadline=signed.deadline, signature=signed.signature
    )

    assert not relayed.already_revoked
    assert consents.record(world.study, world.patient(0)).revoked_block > 0
    with pytest.raises(PatientNotEnrolledError):
        relay.revoke(world.study, world.patient(3), deadline=signed.deadline, signature=b"\0" * 65)


class _SlowJournal(RevocationJournal):
    """A journal whose durable write takes a while (a slow disk): it records when it ended."""

    written_at: float | None = None

    def add(self, study: StudyId, revocations: Iterable[SignedRevocation]) -> None:
        time.sleep(0.3)
        super().add(study, revocations)
        self.written_at = time.monotonic()


class _BrokenJournal(RevocationJournal):
    """A journal whose disk refuses every write (full, read-only)."""

    def add(self, study: StudyId, revocations: Iterable[SignedRevocation]) -> None:
        raise OSError(28, "No space left on device")


def test_a_revocation_is_answered_only_once_its_journal_entry_is_written(
    eth_tester_ledger: LedgerWorld, tmp_path: Path
) -> None:
    """The journal write runs beside the send; the lie it must not tell: answering before the
    entry is on disk (a 503 would then name a revocation that a crash loses)."""
    world = eth_tester_ledger
    world.grant(0)
    journal = _SlowJournal(tmp_path / "j.json")
    relay = RevocationRelay(world.outsider, journal=journal)
    signed = _signed(world, 0)
    relayed = relay.revoke(
        world.study, signed.patient, deadline=signed.deadline, signature=signed.signature
    )
    answered_at = time.monotonic()
    assert not relayed.already_revoked
    assert journal.written_at is not None
    assert journal.written_at <= answered_at
    _wait_empty(journal)


def test_a_journal_that_cannot_be_written_answers_with_what_landed_on_chain(
    eth_tester_ledger: LedgerWorld, tmp_path: Path
) -> None:
    """The write failed after the batch went out: a revocation that landed is answered with its
    event (it is on chain); nothing is answered as durable that is neither on disk nor mined."""
    world = eth_tester_ledger
    world.grant(0)
    relay = RevocationRelay(world.outsider, journal=_BrokenJournal(tmp_path / "j.json"))
    signed = _signed(world, 0)
    relayed = relay.revoke(
        world.study, signed.patient, deadline=signed.deadline, signature=signed.signature
    )
    assert not relayed.already_revoked
    assert _revocations_of(world, world.patient(0)) == [relayed.event]
    assert not (tmp_path / "j.json").exists()
