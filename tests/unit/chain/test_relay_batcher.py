"""How the revocation batcher forms batches (`chain.relay_batcher`), against a fake registry
whose batches settle only when the test says so: a lone revocation goes out at once, and the
ones arriving while a batch is in flight go out together once it settles (or after the
linger), not as several small batches each paying a transaction."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Any, cast

from chain.consent_registry import ConsentRegistry, RevocationBatchOutcome, SignedRevocation
from chain.events import RevocationSkipped
from chain.relay_batcher import BatchResult, RevocationBatcher
from consent.events import EventPosition
from consent.ids import Address, StudyId, study_id

STUDY = study_id("batcher")


class _Registry:
    """Records each batch sent; `revoke_batch_outcome` waits for the test's release."""

    def __init__(self) -> None:
        self.sent: list[list[Address]] = []
        self.settle: list[threading.Event] = []
        self.sent_event = threading.Condition()

    def send_revoke_batch(self, study: StudyId, revocations: list[SignedRevocation]) -> int:
        with self.sent_event:
            self.sent.append([r.patient for r in revocations])
            self.settle.append(threading.Event())
            self.sent_event.notify_all()
            return len(self.sent) - 1

    def revoke_batch_outcome(self, pending: Any) -> RevocationBatchOutcome:
        assert self.settle[pending].wait(30)
        skipped = {
            patient: RevocationSkipped(STUDY, patient, "NoActiveConsent", EventPosition(1, i), "0x")
            for i, patient in enumerate(self.sent[pending])
        }
        return RevocationBatchOutcome({}, skipped)

    def wait_sent(self, count: int) -> None:
        with self.sent_event:
            assert self.sent_event.wait_for(lambda: len(self.sent) >= count, 30)


def _patient(i: int) -> Address:
    return Address("0x" + f"{i + 1:040x}")


def _submit(batcher: RevocationBatcher, i: int) -> Future[BatchResult]:
    return batcher.submit(STUDY, SignedRevocation(_patient(i), 2**40, b"\x01" * 65))


def test_arrivals_during_a_batch_in_flight_go_out_as_one_batch_when_it_settles() -> None:
    registry = _Registry()
    batcher = RevocationBatcher(cast(ConsentRegistry, registry), linger_s=30.0)
    first = _submit(batcher, 0)
    registry.wait_sent(1)  # alone: sent at once, nothing lingers
    later = [_submit(batcher, i) for i in range(1, 11)]
    assert len(registry.sent) == 1  # the ten wait for the batch in flight
    registry.settle[0].set()
    assert first.result(30).patient == _patient(0)
    registry.wait_sent(2)
    assert registry.sent[1] == [_patient(i) for i in range(1, 11)]
    registry.settle[1].set()
    assert [f.result(30).patient for f in later] == [_patient(i) for i in range(1, 11)]
    assert len(registry.sent) == 2


def test_a_batch_lingers_no_longer_than_its_linger() -> None:
    """On a slow chain the in-flight batch may take seconds: the next one goes out after the
    linger, still several in flight."""
    registry = _Registry()
    batcher = RevocationBatcher(cast(ConsentRegistry, registry), linger_s=0.05)
    _submit(batcher, 0)
    registry.wait_sent(1)
    second = _submit(batcher, 1)
    registry.wait_sent(2)  # the first is still in flight
    assert registry.sent == [[_patient(0)], [_patient(1)]]
    for event in registry.settle:
        event.set()
    assert second.result(30).patient == _patient(1)
