"""The worker side of `consentfl api --workers N`: hand checked revocations to the batcher process.

A worker checks every request itself (`RevocationRelay`: study, enrolment, deadline, nonce,
EIP-712 signature) and signs the receipts, but never sends a transaction: the relayer key's
nonce counter, the journal and the batching live in one batcher process
(`chain.relay_server`). `RemoteBatcher` stands in for the relay's `RevocationBatcher` over a
Unix socket (frames of `chain.relay_wire`, many requests in flight on one connection, answers
matched by id); `ForwardingRelay` also forwards cancellations and purpose withdrawals, which the
batcher process checks again and sends under its relay's lock.

A batcher that is gone (cannot connect, or the connection drops) fails every waiting request
at once with `RelayBatcherUnavailableError` (503), never a hang; the next request connects again.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import socket
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Final

from chain.consent_batches import BatchMembership
from chain.consent_registry import SignedRevocation
from chain.deploy import Ledger
from chain.errors import ChainError
from chain.events import PendingConsentsCancelled
from chain.relay import RevocationRelay
from chain.relay_batcher import BatchResult
from chain.relay_wire import (
    RelayBatcherUnavailableError,
    WireError,
    decode_error,
    decode_event,
    encode_frame,
    read_frame,
)
from consent.events import ConsentRevoked, PurposesRevoked
from consent.ids import Address, StudyId

__all__ = ["ForwardingRelay", "RemoteBatcher"]

logger = logging.getLogger(__name__)

_WAIT_S: Final = 150.0
"""How long a forwarded cancellation or withdrawal waits (as `chain.relay` waits for a batch)."""


class _Connection:
    """One socket to the batcher, a reader thread settling futures by id."""

    def __init__(self, path: Path, timeout: float) -> None:
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        self._sock.connect(str(path))
        self._sock.settimeout(None)
        self._reader = self._sock.makefile("rb")
        self._write_lock = threading.Lock()
        self._lock = threading.Lock()
        self._waiting: dict[int, Future[Any]] = {}
        self._ids = itertools.count(1)
        self.closed = False
        threading.Thread(target=self._read, name="relay-client", daemon=True).start()

    def call(self, message: dict[str, Any]) -> Future[Any]:
        future: Future[Any] = Future()
        with self._lock:
            if self.closed:
                raise RelayBatcherUnavailableError("the connection to the batcher is closed")
            ident = next(self._ids)
            self._waiting[ident] = future
        frame = encode_frame({**message, "id": ident})
        try:
            with self._write_lock:
                self._sock.sendall(frame)
        except OSError as exc:
            self._close(f"cannot write to the batcher: {exc}")
        return future

    def _read(self) -> None:
        reason = "the batcher closed the connection"
        try:
            while (message := read_frame(self._reader)) is not None:
                with self._lock:
                    future = self._waiting.pop(message["id"], None)
                if future is None:
                    logger.warning("an answer from the batcher for no request")
                elif "error" in message:
                    future.set_exception(decode_error(message["error"]))
                else:
                    future.set_result(message.get("ok"))
        except (OSError, WireError) as exc:
            reason = f"the connection to the batcher failed: {exc}"
        self._close(reason)

    def _close(self, reason: str) -> None:
        with self._lock:
            self.closed = True
            waiting, self._waiting = self._waiting, {}
        for future in waiting.values():
            if not future.done():
                future.set_exception(RelayBatcherUnavailableError(reason))
        with contextlib.suppress(OSError):
            self._sock.close()


class RemoteBatcher:
    """A `Batching` whose batcher is in another process, at the Unix socket `path`."""

    def __init__(self, path: Path, *, connect_timeout: float = 5.0) -> None:
        self.path = Path(path)
        self._connect_timeout = connect_timeout
        self._lock = threading.Lock()
        self._connection: _Connection | None = None

    def call(self, message: dict[str, Any]) -> Future[Any]:
        """Send one request; the future holds the answer's `ok` value or its error.
        Raises `RelayBatcherUnavailableError` at once when the batcher cannot be reached."""
        with self._lock:
            if self._connection is None or self._connection.closed:
                try:
                    self._connection = _Connection(self.path, self._connect_timeout)
                except OSError as exc:
                    raise RelayBatcherUnavailableError(
                        f"cannot reach the batcher at {self.path}: {exc.strerror or exc}"
                    ) from exc
            connection = self._connection
        return connection.call(message)

    def ping(self) -> None:
        """Wait for the batcher to answer (raises `RelayBatcherUnavailableError`)."""
        self.call({"op": "ping"}).result(timeout=self._connect_timeout)

    def submit(
        self, study: StudyId, revocation: SignedRevocation, member: BatchMembership | None = None
    ) -> Future[BatchResult]:
        """As `RevocationBatcher.submit`; a batch consent (`member`) is looked up again there."""
        result: Future[BatchResult] = Future()
        try:
            answer = self.call(
                {
                    "op": "revoke",
                    **_signed(study, revocation.patient, revocation.deadline, revocation.signature),
                    "materialize": member is not None,
                }
            )
        except ChainError as exc:
            result.set_exception(exc)
            return result
        answer.add_done_callback(lambda done: _settle(result, done))
        return result

    def resume(
        self, member_of: Callable[[StudyId, Address], BatchMembership | None] | None = None
    ) -> int:
        """Nothing: the batcher process resends its journal itself."""
        return 0


def _signed(study: StudyId, patient: Address, deadline: int, signature: bytes) -> dict[str, Any]:
    return {
        "study": bytes(study).hex(),
        "patient": patient,
        "deadline": deadline,
        "signature": signature.hex(),
    }


def _settle(result: Future[BatchResult], done: Future[Any]) -> None:
    error = done.exception()
    if error is not None:
        result.set_exception(error)
        return
    try:
        result.set_result(decode_event(done.result()))
    except WireError as exc:
        result.set_exception(exc)


class ForwardingRelay(RevocationRelay):
    """A `RevocationRelay` of a worker process: everything it would send goes to the batcher."""

    def __init__(self, ledger: Ledger, remote: RemoteBatcher) -> None:
        super().__init__(ledger, batcher=remote)
        self.remote = remote

    def cancel_pending(
        self,
        study: StudyId,
        patient: Address,
        *,
        deadline: int,
        signature: bytes,
        nonce: int | None = None,
    ) -> PendingConsentsCancelled:
        """As `RevocationRelay.cancel_pending`, checked and sent by the batcher process."""
        message = {"op": "cancel", **_signed(study, patient, deadline, signature), "nonce": nonce}
        event = self._forward(message)
        if not isinstance(event, PendingConsentsCancelled):
            raise WireError(f"the batcher answered a cancellation with {type(event).__name__}")
        return event

    def revoke_purposes(
        self, study: StudyId, patient: Address, mask: int, *, deadline: int, signature: bytes
    ) -> PurposesRevoked | ConsentRevoked:
        """As `chain.purpose_relay.relay_purpose_revocation`, in the batcher process."""
        message = {"op": "purposes", **_signed(study, patient, deadline, signature), "mask": mask}
        event = self._forward(message)
        if not isinstance(event, PurposesRevoked | ConsentRevoked):
            raise WireError(f"the batcher answered a withdrawal with {type(event).__name__}")
        return event

    def _forward(self, message: dict[str, Any]) -> Any:
        try:
            return decode_event(self.remote.call(message).result(timeout=_WAIT_S))
        except TimeoutError as exc:
            raise RelayBatcherUnavailableError("the batcher did not answer in time") from exc
