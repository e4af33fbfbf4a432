"""Send waiting signed revocations as batches, many in flight, receipts awaited off the send path.

One sending thread takes every revocation waiting for one study (up to `MAX_REVOCATION_BATCH`),
journals them (`RevocationJournal`: the durable write, two fsyncs, runs on a journal thread while
the transaction is signed and sent, and every request waits for it before it is answered, so a
revocation answered, even with a 503, is on disk; one sent whose write a crash cut short was not
answered, and is on the node), and sends one `revokeBatchWithSig`
through the relayer's nonce-counting `Sender`: the send returns at once, and the next batch can
go out while this one is mined (up to `IN_FLIGHT`; while one is in flight the next lingers up
to `LINGER_S` to fill, so under load few large batches go out rather than many small ones).
A small pool waits for the receipts and settles each request's future with the outcome read
from the receipt (`ConsentRevoked` or `RevocationSkipped`).

Two requests for the same patient waiting at once share one entry (and one future's outcome).

An entry for a patient granted in a batch of first consents and not yet materialized carries its
`BatchMembership`: the sending thread sends its `materializeConsent` right before the batch,
through the same nonce-counting sender, so it is mined first (same-sender transactions are mined
in nonce order) and never waited for on the send path. Its receipt is checked with the batch's:
one that reverted (materialized meanwhile by another) changes nothing, and the revocation then
applies to the record written meanwhile, or is skipped (`NoActiveConsent`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Final, Protocol

from chain.consent_batches import BatchMembership
from chain.consent_registry import (
    MAX_REVOCATION_BATCH,
    ConsentRegistry,
    RevocationBatchOutcome,
    SignedRevocation,
)
from chain.errors import ChainError, ChainUnavailableError
from chain.events import RevocationSkipped
from chain.relay_journal import RevocationJournal
from chain.transactions import PendingTransaction
from consent.events import ConsentRevoked
from consent.ids import Address, StudyId

__all__ = ["FILL", "IN_FLIGHT", "LINGER_S", "BatchResult", "Batching", "RevocationBatcher"]

logger = logging.getLogger(__name__)

_RECEIPT_WAITERS: Final = 8
IN_FLIGHT: Final = 3
"""Batches sent and not yet settled at most: while they are mined the queue fills, so under
load the next batch carries many revocations (each transaction costs the relayer ~30 ms of
encoding, signing and receipt decoding, whatever its size)."""
LINGER_S: Final = 0.05
"""While a batch is in flight, how long the next one waits to fill (unless it settles first,
or `FILL` revocations wait): on an automining node a batch settles in tens of milliseconds, and
without the wait three small batches were in flight at once, each paying the ~30 ms a
transaction costs (20 clients: median batch 2, 12 ms of relayer CPU per revocation). With
nothing in flight a revocation goes out at once, so a lone request never waits."""
FILL: Final = 64
"""Waiting revocations that make the next batch go out without lingering."""

BatchResult = ConsentRevoked | RevocationSkipped
"""What became of one entry: revoked by the batch, or skipped by it (with the reason)."""


class Batching(Protocol):
    """What the relay hands checked revocations to: a `RevocationBatcher`, or a client of one
    in another process (`chain.relay_client.RemoteBatcher`)."""

    def submit(
        self, study: StudyId, revocation: SignedRevocation, member: BatchMembership | None = None
    ) -> Future[BatchResult]:
        """Queue `revocation`; the future resolves once its batch is mined."""
        ...

    def resume(
        self, member_of: Callable[[StudyId, Address], BatchMembership | None] | None = None
    ) -> int:
        """Queue again what a journal holds; how many."""
        ...


@dataclass(eq=False)
class _Waiting:
    study: StudyId
    revocation: SignedRevocation
    member: BatchMembership | None = None
    futures: list[Future[BatchResult]] = field(default_factory=list)

    def settle(self, result: BatchResult | None, error: BaseException | None) -> None:
        for future in self.futures:
            if error is not None:
                future.set_exception(error)
            elif result is not None:
                future.set_result(result)


class RevocationBatcher:
    """Queues signed revocations and sends them in batches (see the module docstring)."""

    def __init__(
        self,
        consents: ConsentRegistry,
        journal: RevocationJournal | None = None,
        *,
        max_batch: int = MAX_REVOCATION_BATCH,
        in_flight: int = IN_FLIGHT,
        linger_s: float = LINGER_S,
    ) -> None:
        self._consents = consents
        self._journal = journal
        self._max_batch = max(1, min(max_batch, MAX_REVOCATION_BATCH))
        self._cond = threading.Condition()
        self._queue: dict[tuple[StudyId, Address], _Waiting] = {}
        self._sender: threading.Thread | None = None
        self._waiters = ThreadPoolExecutor(_RECEIPT_WAITERS, thread_name_prefix="relay-receipt")
        self._journaling = ThreadPoolExecutor(1, thread_name_prefix="relay-journal")
        self._in_flight = threading.BoundedSemaphore(in_flight)
        self._linger_s = linger_s
        self._busy = 0
        """Batches sent and not settled (under `_cond`)."""

    def submit(
        self,
        study: StudyId,
        revocation: SignedRevocation,
        member: BatchMembership | None = None,
    ) -> Future[BatchResult]:
        """Queue `revocation` (materializing the batch consent `member` first, if given); the
        future resolves once its batch is mined."""
        future: Future[BatchResult] = Future()
        with self._cond:
            key = (study, revocation.patient)
            waiting = self._queue.get(key)
            if waiting is None:
                waiting = self._queue[key] = _Waiting(study, revocation, member)
            elif waiting.member is None:
                waiting.member = member
            waiting.futures.append(future)
            if self._sender is None:
                self._sender = threading.Thread(target=self._run, name="relay-sender", daemon=True)
                self._sender.start()
            self._cond.notify()
        return future

    def resume(
        self, member_of: Callable[[StudyId, Address], BatchMembership | None] | None = None
    ) -> int:
        """Queue again every journalled revocation (after a restart); how many. `member_of`
        gives the batch proof of a patient whose batch consent is still to be materialized."""
        if self._journal is None:
            return 0
        pending = self._journal.pending()
        for study, revocation in pending:
            member = None if member_of is None else member_of(study, revocation.patient)
            self.submit(study, revocation, member).add_done_callback(_log_resumed)
        if pending:
            logger.warning("resending %d journalled revocations", len(pending))
        return len(pending)

    def _take(self) -> list[_Waiting]:
        """The next batch: every revocation waiting for the first waiting one's study, once
        nothing is in flight, `FILL` wait, or it has lingered `LINGER_S` (see there)."""
        with self._cond:
            while not self._queue:
                self._cond.wait()
            deadline = time.monotonic() + self._linger_s
            while self._busy and len(self._queue) < min(FILL, self._max_batch):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            study = next(iter(self._queue.values())).study
            batch: list[_Waiting] = []
            for key, waiting in list(self._queue.items()):
                if waiting.study == study:
                    batch.append(self._queue.pop(key))
                    if len(batch) == self._max_batch:
                        break
            return batch

    def _run(self) -> None:
        while True:
            self._in_flight.acquire()  # a free slot first: meanwhile the queue fills
            batch = self._take()
            sent = False
            try:
                sent = self._send(batch)
            except Exception as exc:  # a future must never be left hanging
                logger.exception("revocation batch failed before sending")
                for waiting in batch:
                    waiting.settle(None, exc)
            finally:
                if not sent:
                    self._in_flight.release()

    def _send(self, batch: list[_Waiting]) -> bool:
        """Send `batch`; whether it went out (then `_settle` frees its in-flight slot). The
        journal write overlaps the send (see the module docstring); a failed write fails the
        batch's requests whose revocation did not land (`_settle_unjournaled`)."""
        study = batch[0].study
        revocations = [w.revocation for w in batch]
        journaled: Future[None] | None = None
        if self._journal is not None:
            journaled = self._journaling.submit(self._journal.add, study, revocations)
        try:
            materializing = self._materialize(batch)
            pending = self._consents.send_revoke_batch(study, revocations)
        except ChainUnavailableError as exc:
            _journaled(journaled)  # kept: on disk before the 503, resent at the next start
            self._fail(batch, exc, keep=True)
            return False
        except ChainError as exc:
            _journaled(journaled)  # then forgotten: refused outright
            self._fail(batch, exc, keep=False)
            return False
        with self._cond:
            self._busy += 1
        self._waiters.submit(self._settle, batch, pending, materializing, journaled)
        return True

    def _materialize(self, batch: list[_Waiting]) -> list[PendingTransaction]:
        """Send the batch consents' `materializeConsent`s (not waited for: see the module
        docstring); one the node refuses at once is left out (the revocation is then skipped)."""
        sent: list[PendingTransaction] = []
        for waiting in batch:
            if waiting.member is None:
                continue
            patient = waiting.revocation.patient
            try:
                sent.append(self._consents.send_materialize(waiting.study, patient, waiting.member))
            except ChainUnavailableError:
                raise
            except ChainError as exc:
                logger.warning("materializing a batch consent was refused: %s", exc)
        return sent

    def _settle(
        self,
        batch: list[_Waiting],
        pending: PendingTransaction,
        materializing: list[PendingTransaction],
        journaled: Future[None] | None = None,
    ) -> None:
        try:
            try:
                _journaled(journaled)  # on disk before any request is answered, or removed
            except Exception as exc:  # the write failed: see `_settle_unjournaled`
                logger.error("the relayer journal could not be written: %s", exc)
                self._settle_unjournaled(batch, pending, materializing, exc)
            else:
                self._settle_one(batch, pending, materializing)
        finally:
            with self._cond:
                self._busy -= 1
                self._cond.notify_all()
            self._in_flight.release()

    def _settle_one(
        self,
        batch: list[_Waiting],
        pending: PendingTransaction,
        materializing: list[PendingTransaction],
    ) -> None:
        try:
            for sent in materializing:
                self._check_materialized(sent)
            outcome = self._consents.revoke_batch_outcome(pending)
        except ChainUnavailableError as exc:
            self._fail(batch, exc, keep=True)  # may still be mined: resent on restart
            return
        except Exception as exc:
            self._fail(batch, exc, keep=False)
            return
        self._resolve(batch, outcome)

    def _settle_unjournaled(
        self,
        batch: list[_Waiting],
        pending: PendingTransaction,
        materializing: list[PendingTransaction],
        error: Exception,
    ) -> None:
        """A batch sent whose journal write failed: a request whose revocation landed is
        answered with it (it is on chain, more than on disk), the others with `error`."""
        try:
            for sent in materializing:
                self._check_materialized(sent)
            outcome = self._consents.revoke_batch_outcome(pending)
        except Exception:
            for waiting in batch:
                waiting.settle(None, error)
            return
        for waiting in batch:
            revoked = outcome.revoked.get(waiting.revocation.patient)
            waiting.settle(revoked, None if revoked is not None else error)

    def _check_materialized(self, sent: PendingTransaction) -> None:
        """Wait for one `materializeConsent`; a revert is logged (its revocation is skipped)."""
        try:
            self._consents.materialized(sent)
        except ChainUnavailableError:
            raise
        except ChainError as exc:
            logger.warning("a batch consent could not be materialized: %s", exc)

    def _resolve(self, batch: list[_Waiting], outcome: RevocationBatchOutcome) -> None:
        for waiting in batch:
            patient = waiting.revocation.patient
            result: BatchResult | None = outcome.revoked.get(patient) or outcome.skipped.get(
                patient
            )
            if result is None:
                waiting.settle(None, ChainError(f"the batch says nothing about {patient}"))
            else:
                waiting.settle(result, None)
        self._forget(batch)

    def _fail(self, batch: list[_Waiting], exc: BaseException, *, keep: bool) -> None:
        if not keep:
            self._forget(batch)
        for waiting in batch:
            waiting.settle(None, exc)

    def _forget(self, batch: list[_Waiting]) -> None:
        if self._journal is not None:
            self._journal.remove(batch[0].study, [w.revocation.patient for w in batch])


def _journaled(journaled: Future[None] | None) -> None:
    """Wait for the batch's journal write (re-raising what it raised)."""
    if journaled is not None:
        journaled.result()


def _log_resumed(future: Future[BatchResult]) -> None:
    error = future.exception()
    if error is not None:
        logger.warning("a resent revocation failed: %s", error)
    elif isinstance(future.result(), RevocationSkipped):
        logger.info("a resent revocation was skipped: %s", future.result())
