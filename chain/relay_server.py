"""The batcher process's side of `consentfl api --workers N`: serve a relay on a Unix socket.

`RelayServer` listens on a Unix socket created 0600 (next to the journal) and serves the frames
of `chain.relay_wire` from the worker processes (`chain.relay_client`): a `revoke` request
(already checked by the worker) goes to this process's one `RevocationBatcher`, which owns the
relayer key's nonce counter and the journal, and is answered with the batch's outcome
(`ConsentRevoked` or `RevocationSkipped`) or the error the batcher settled it with; a
`cancel` or `purposes` request is checked again and sent by this process's `RevocationRelay`
(under its lock), answered with the event or the named refusal. Each connection reads frames on
its own thread; answers are written as they come, in any order, matched by id.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socketserver
import stat
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final

from chain.consent_registry import SignedRevocation
from chain.errors import ChainError
from chain.purpose_relay import relay_purpose_revocation
from chain.relay import RevocationRelay
from chain.relay_batcher import Batching
from chain.relay_wire import WireError, encode_error, encode_event, encode_frame, read_frame
from consent.ids import StudyId, parse_address
from consent.purposes import ConsentScope

__all__ = ["RelayServer", "serve_until_closed"]

logger = logging.getLogger(__name__)

_SENDS: Final = 4
"""Threads running forwarded cancellations and withdrawals (they serialize on the relay's lock)."""


class _Handler(socketserver.StreamRequestHandler):
    server: RelayServer

    def setup(self) -> None:
        super().setup()
        self._write_lock = threading.Lock()

    def handle(self) -> None:
        while True:
            try:
                message = read_frame(self.rfile)
            except (OSError, WireError) as exc:
                logger.warning("dropped a worker connection: %s", exc)
                return
            if message is None:
                return
            self.server.dispatch(message, self._answer)

    def _answer(self, answer: dict[str, Any]) -> None:
        try:
            frame = encode_frame(answer)
        except WireError as exc:
            frame = encode_frame({"id": answer["id"], "error": encode_error(exc)})
        with contextlib.suppress(OSError), self._write_lock:  # a worker gone: nobody waits
            self.wfile.write(frame)
            self.wfile.flush()


class RelayServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """Serves `relay` (built over `batcher`) at the Unix socket `path` (module docstring)."""

    daemon_threads = True

    def __init__(self, relay: RevocationRelay, batcher: Batching, path: Path) -> None:
        self.relay = relay
        self.batcher = batcher
        self.path = Path(path)
        self._sends = ThreadPoolExecutor(_SENDS, thread_name_prefix="relay-forwarded")
        if self.path.exists() and stat.S_ISSOCK(self.path.lstat().st_mode):
            self.path.unlink()  # a stale socket of a batcher that was killed
        super().__init__(str(self.path), _Handler, bind_and_activate=False)
        umask = os.umask(0o177)
        try:
            self.server_bind()
        finally:
            os.umask(umask)
        os.chmod(self.path, 0o600)
        self.server_activate()

    def server_close(self) -> None:
        super().server_close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self._sends.shutdown(wait=False, cancel_futures=True)

    def dispatch(self, message: dict[str, Any], answer: Any) -> None:
        """Serve one request frame; `answer` is called once with the answer frame."""
        ident = message["id"]
        try:
            op = message.get("op")
            if op == "ping":
                answer({"id": ident, "ok": None})
            elif op == "revoke":
                self._revoke(message, answer)
            elif op in ("cancel", "purposes"):
                self._sends.submit(self._send, message, answer)
            else:
                raise WireError(f"unknown operation {op!r}")
        except Exception as exc:  # every request is answered, with a named error
            answer({"id": ident, "error": encode_error(_named(exc))})

    def _revoke(self, message: dict[str, Any], answer: Any) -> None:
        study, patient, deadline, signature = _signed(message)
        member = None
        if message.get("materialize"):
            member = self.relay.consents.membership(study, patient)
        revocation = SignedRevocation(patient, deadline, signature)
        future = self.batcher.submit(study, revocation, member)
        future.add_done_callback(lambda done: answer(_outcome(message["id"], done)))

    def _send(self, message: dict[str, Any], answer: Any) -> None:
        ident = message["id"]
        try:
            study, patient, deadline, signature = _signed(message)
            if message["op"] == "cancel":
                nonce = message.get("nonce")
                event: Any = self.relay.cancel_pending(
                    study,
                    patient,
                    deadline=deadline,
                    signature=signature,
                    nonce=None if nonce is None else int(nonce),
                )
            else:
                scope = ConsentScope.from_mask(int(message["mask"]))
                event = relay_purpose_revocation(
                    self.relay, study, patient, scope, deadline=deadline, signature=signature
                )
            answer({"id": ident, "ok": encode_event(event)})
        except Exception as exc:  # every request is answered, with a named error
            answer({"id": ident, "error": encode_error(_named(exc))})


def _named(error: BaseException) -> BaseException:
    if isinstance(error, ChainError):
        return error
    return WireError(f"bad request frame: {error!r}")


def _signed(message: dict[str, Any]) -> tuple[StudyId, Any, int, bytes]:
    study = StudyId(bytes.fromhex(str(message["study"])))
    if len(study) != 32:
        raise WireError("a study id is 32 bytes")
    patient = parse_address(str(message["patient"]))
    return study, patient, int(message["deadline"]), bytes.fromhex(str(message["signature"]))


def _outcome(ident: int, done: Future[Any]) -> dict[str, Any]:
    error = done.exception()
    if error is not None:
        return {"id": ident, "error": encode_error(error)}
    return {"id": ident, "ok": encode_event(done.result())}


def serve_until_closed(server: RelayServer) -> None:
    """Serve on this thread until `server.shutdown()` (from another thread or a signal handler
    thread); the socket file is removed on the way out."""
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
