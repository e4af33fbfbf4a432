"""The relayer's view of the registry's logs (`chain.relay_view`), on eth-tester: what it knows,
and that a stale view never makes the relay answer wrongly (every refusal and every "already
revoked" is decided from chain reads; the contract checks what is sent)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from chain import relay_view
from chain.consent_registry import SignedConsent
from chain.relay import RevocationRelay
from chain.relay_view import PatientState, RelayView
from consent.eip712 import sign_cancellation
from consent.events import ConsentRevoked
from consent.ids import Address
from tests.fixtures.ledger import DEADLINE, LedgerWorld

FAR_FUTURE = 2**40


def _revocations_of(world: LedgerWorld, patient: Address) -> list[ConsentRevoked]:
    events = world.coordinator.consents.consent_events(0)
    return [e for e in events if isinstance(e, ConsentRevoked) and e.patient == patient]


def _revoke(relay: RevocationRelay, world: LedgerWorld, patient: int, nonce: int = 0) -> bool:
    signature = world.revocation_sig(patient, deadline=FAR_FUTURE, nonce=nonce)
    relayed = relay.revoke(
        world.study, world.patient(patient), deadline=FAR_FUTURE, signature=signature
    )
    return relayed.already_revoked


def test_view_tells_recorded_batch_and_touched_patients_apart(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    world.grant(0)
    hospital = world.hospitals[0]
    batch = SignedConsent(world.patient(1), 0, world.consent_sig(1, hospital), DEADLINE)
    hospital.consents.grant_first_batch(world.study, [batch])
    world.grant(2)
    world.as_sender(world.patients[2]).consents.revoke(world.study)
    world.grant(2)  # granted again: its nonce history is not known from logs, still touched

    view = RelayView(world.coordinator.consents, world.manifest.deploy_block)

    assert view.state(world.study, world.patient(0)) is PatientState.RECORDED
    assert view.state(world.study, world.patient(1)) is PatientState.IN_BATCH
    assert view.state(world.study, world.patient(2)) is PatientState.TOUCHED
    assert view.state(world.study, world.patient(3)) is None  # never granted
    assert view.state(world.study, world.patient(0).lower()) is PatientState.RECORDED  # type: ignore[arg-type]


def test_stale_view_of_a_directly_revoked_patient_answers_already_revoked(
    eth_tester_ledger: LedgerWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lie: the view still says patient 1's consent is active (it revoked on its own since
    the view's last refresh). The relay sends on it, the contract skips the entry, and the answer
    comes from the chain: already revoked, with the patient's own revocation; nothing twice."""
    world = eth_tester_ledger
    world.grant(0)
    world.grant(1)
    relay = RevocationRelay(world.outsider)
    assert _revoke(relay, world, 0) is False  # the view has synced
    monkeypatch.setattr(relay_view, "REFRESH_S", 3600.0)  # and now goes stale
    own = world.as_sender(world.patients[1]).consents.revoke(world.study)

    assert _revoke(relay, world, 1) is True
    assert _revocations_of(world, world.patient(1)) == [own]


def test_stale_view_does_not_refuse_a_signature_over_a_nonce_it_missed(
    eth_tester_ledger: LedgerWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lie: the view says patient 1's revocation nonce is 0 (a relayed cancellation moved it
    to 1 since). A revocation signed over nonce 1 is valid and must be relayed, not refused."""
    world = eth_tester_ledger
    world.grant(0)
    world.grant(1)
    relay = RevocationRelay(world.outsider)
    assert _revoke(relay, world, 0) is False
    monkeypatch.setattr(relay_view, "REFRESH_S", 3600.0)
    patient = world.patients[1]
    domain = world.coordinator.consents.domain
    cancel = sign_cancellation(patient.key, domain, world.study, world.patient(1), 0, FAR_FUTURE)
    relay.cancel_pending(world.study, world.patient(1), deadline=FAR_FUTURE, signature=cancel)

    assert _revoke(relay, world, 1, nonce=1) is False
    assert len(_revocations_of(world, world.patient(1))) == 1
    assert world.coordinator.consents.revocation_nonce(world.study, world.patient(1)) == 2


def test_a_touch_does_not_wait_for_a_refresh_reading_logs(
    eth_tester_ledger: LedgerWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While one request's refresh waits on `eth_getLogs`, another request's `touch` (every
    relayed revocation makes one) and `state` answer at once: the view's lock is held only to
    apply what was read, and the read patient state lands once the logs arrive."""
    world = eth_tester_ledger
    world.grant(0)
    view = RelayView(world.coordinator.consents, world.manifest.deploy_block)
    assert view.state(world.study, world.patient(0)) is PatientState.RECORDED  # caught up
    world.grant(1)
    reading, release = threading.Event(), threading.Event()
    logs = view._logs

    def slow_logs(first: int, last: int) -> list[Any]:
        reading.set()
        assert release.wait(30)
        return logs(first, last)

    monkeypatch.setattr(view, "_logs", slow_logs)
    monkeypatch.setattr(view, "_refreshed_at", -relay_view.REFRESH_S)  # stale now
    refresher = threading.Thread(target=view.refresh)
    refresher.start()
    assert reading.wait(30)
    touched = threading.Thread(target=view.touch, args=(world.study, world.patient(0)))
    touched.start()
    touched.join(5)
    answered = not touched.is_alive()
    state = view.state(world.study, world.patient(0))  # no second read: another one is at it
    release.set()
    refresher.join(30)
    touched.join(30)
    assert answered
    assert state is PatientState.TOUCHED
    assert view.state(world.study, world.patient(1)) is PatientState.RECORDED


def test_a_known_patient_does_not_refresh_the_view_but_a_new_grant_is_still_learnt(
    eth_tester_ledger: LedgerWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Requests for patients the view knows read no logs until `KNOWN_REFRESH_S` (what a refresh
    could change for them the contract catches); a patient granted since is learnt on the first
    request for them once the view is `REFRESH_S` old, and one older than `KNOWN_REFRESH_S`
    refreshes for anyone."""
    world = eth_tester_ledger
    world.grant(0)
    view = RelayView(world.coordinator.consents, world.manifest.deploy_block)
    assert view.state(world.study, world.patient(0)) is PatientState.RECORDED  # caught up
    reads: list[tuple[int, int]] = []
    logs = view._logs

    def counted(first: int, last: int) -> list[Any]:
        reads.append((first, last))
        return logs(first, last)

    monkeypatch.setattr(view, "_logs", counted)
    world.grant(1)
    now = time.monotonic()
    monkeypatch.setattr(view, "_refreshed_at", now - relay_view.REFRESH_S)  # stale for new ones
    assert view.state(world.study, world.patient(0)) is PatientState.RECORDED
    assert reads == []  # a known patient: no read
    assert view.state(world.study, world.patient(1)) is PatientState.RECORDED  # learnt
    assert len(reads) == 1
    world.grant(2)
    monkeypatch.setattr(view, "_refreshed_at", now - relay_view.KNOWN_REFRESH_S)
    assert view.state(world.study, world.patient(0)) is PatientState.RECORDED
    assert len(reads) == 2  # too old even for a known patient: read, and patient 2 is known now
    assert view._states.get((bytes(world.study), world.patient(2).lower())) is (
        PatientState.RECORDED
    )
