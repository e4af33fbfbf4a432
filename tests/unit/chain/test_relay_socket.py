"""The worker-to-batcher socket (`chain.relay_client` against `chain.relay_server`) with a fake
batcher and relay: many requests in flight on one connection each get their own answer, errors
arrive named, and a batcher that goes away fails the waiting requests at once (503), never a
hang."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any, cast

import pytest

from chain import relay_server
from chain.consent_batches import BatchMembership
from chain.consent_registry import SignedRevocation
from chain.errors import ChainUnavailableError
from chain.events import PendingConsentsCancelled, RevocationSkipped
from chain.purpose_errors import ConsentNotActiveError
from chain.purpose_relay import relay_purpose_revocation
from chain.relay import NonceMismatchError, RevocationRelay
from chain.relay_batcher import BatchResult
from chain.relay_client import ForwardingRelay, RemoteBatcher
from chain.relay_server import RelayServer, serve_until_closed
from chain.relay_wire import RelayBatcherUnavailableError, encode_frame
from consent.events import ConsentRevoked, EventPosition, PurposesRevoked
from consent.ids import Address, StudyId, study_id
from consent.purposes import ConsentScope

STUDY = study_id("socket")


def _patient(i: int) -> Address:
    return Address("0x" + f"{i + 1:040x}".upper().replace("X", "x"))


class _Batcher:
    """Holds every submitted future until the test settles it."""

    def __init__(self) -> None:
        self.waiting: dict[Address, Future[BatchResult]] = {}
        self.members: list[BatchMembership | None] = []
        self.arrived = threading.Condition()

    def submit(
        self, study: StudyId, revocation: SignedRevocation, member: BatchMembership | None = None
    ) -> Future[BatchResult]:
        future: Future[BatchResult] = Future()
        with self.arrived:
            self.waiting[revocation.patient] = future
            self.members.append(member)
            self.arrived.notify_all()
        return future

    def resume(self, member_of: Any = None) -> int:
        return 0

    def wait(self, count: int) -> None:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.waiting) >= count, 30)


class _Consents:
    def membership(self, study: StudyId, patient: Address) -> BatchMembership | None:
        return None


class _Relay:
    consents = _Consents()

    def cancel_pending(self, study: StudyId, patient: Address, **kw: Any) -> Any:
        if kw["nonce"] == 5:
            raise NonceMismatchError(patient, 5, 0)
        return PendingConsentsCancelled(study, patient, 3, EventPosition(9, 0), "0xcc")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[_Batcher, RelayServer, Path]]:
    batcher = _Batcher()
    path = tmp_path / "journal.json.sock"
    server = RelayServer(cast(RevocationRelay, _Relay()), batcher, path)
    thread = threading.Thread(target=serve_until_closed, args=(server,), daemon=True)
    thread.start()
    yield batcher, server, path
    server.shutdown()
    thread.join(10)


def _revocation(i: int) -> SignedRevocation:
    return SignedRevocation(_patient(i), 2**40, bytes([i]) * 65)


def _revoked(i: int) -> ConsentRevoked:
    return ConsentRevoked(STUDY, _patient(i), _patient(99), EventPosition(1, i), "0xaa", 7)


def test_the_socket_is_private_and_removed_on_close(tmp_path: Path) -> None:
    path = tmp_path / "j.sock"
    server = RelayServer(cast(RevocationRelay, _Relay()), _Batcher(), path)
    assert path.stat().st_mode & 0o777 == 0o600
    server.server_close()
    assert not path.exists()


def test_concurrent_revocations_are_answered_each_with_its_own_outcome(
    served: tuple[_Batcher, RelayServer, Path],
) -> None:
    batcher, _, path = served
    remote = RemoteBatcher(path)
    futures = [remote.submit(STUDY, _revocation(i)) for i in range(10)]
    batcher.wait(10)
    for i in reversed(range(10)):  # settled out of order
        if i == 3:
            batcher.waiting[_patient(i)].set_exception(ChainUnavailableError("http://x", "down"))
        elif i == 4:
            skipped = RevocationSkipped(
                STUDY, _patient(i), "NoActiveConsent", EventPosition(1, 0), "0x"
            )
            batcher.waiting[_patient(i)].set_result(skipped)
        else:
            batcher.waiting[_patient(i)].set_result(_revoked(i))
    for i, future in enumerate(futures):
        if i == 3:
            with pytest.raises(ChainUnavailableError):
                future.result(30)
        elif i == 4:
            assert isinstance(future.result(30), RevocationSkipped)
        else:
            assert future.result(30) == _revoked(i)


def test_cancellations_are_forwarded_with_their_refusals(
    served: tuple[_Batcher, RelayServer, Path],
) -> None:
    _, _, path = served
    relay = ForwardingRelay.__new__(ForwardingRelay)  # only the forwarding half is used here
    relay.remote = RemoteBatcher(path)
    event = relay.cancel_pending(STUDY, _patient(1), deadline=2**40, signature=b"\x01" * 65)
    assert event.next_grant_nonce == 3
    with pytest.raises(NonceMismatchError) as refused:
        relay.cancel_pending(STUDY, _patient(1), deadline=2**40, signature=b"\x01" * 65, nonce=5)
    assert refused.value.nonce == 5


def test_a_bad_request_is_answered_with_a_named_error_and_the_connection_stays_up(
    served: tuple[_Batcher, RelayServer, Path],
) -> None:
    _, _, path = served
    remote = RemoteBatcher(path)
    with pytest.raises(Exception, match="unknown operation"):
        remote.call({"op": "selfdestruct"}).result(30)
    with pytest.raises(Exception, match="bad request frame"):
        remote.call({"op": "revoke", "study": "zz"}).result(30)
    remote.ping()


def test_a_garbage_frame_drops_only_that_connection(
    served: tuple[_Batcher, RelayServer, Path],
) -> None:
    _, _, path = served
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as raw:
        raw.connect(str(path))
        raw.sendall(b"\xff\xff\xff\xff")
        assert raw.recv(10) == b""  # closed by the server
    RemoteBatcher(path).ping()
    assert encode_frame({"id": 1})  # the framing itself is unaffected


def test_a_batcher_gone_fails_the_waiting_requests_at_once(tmp_path: Path) -> None:
    path = tmp_path / "dying.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen()

    def die_after_the_request() -> None:
        connection, _ = listener.accept()
        connection.recv(4096)
        connection.close()

    thread = threading.Thread(target=die_after_the_request, daemon=True)
    thread.start()
    try:
        waiting = RemoteBatcher(path).submit(STUDY, _revocation(1))
        with pytest.raises(RelayBatcherUnavailableError, match="closed the connection"):
            waiting.result(30)
    finally:
        thread.join(10)
        listener.close()


def test_no_batcher_at_all_is_unavailable_not_a_hang(tmp_path: Path) -> None:
    remote = RemoteBatcher(tmp_path / "nobody.sock", connect_timeout=1)
    with pytest.raises(RelayBatcherUnavailableError, match="cannot reach the batcher"):
        remote.submit(STUDY, _revocation(1)).result(30)


def test_purpose_withdrawals_are_forwarded_and_sent_by_the_batchers_relay(
    served: tuple[_Batcher, RelayServer, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, server, path = served
    seen: list[tuple[Any, ...]] = []

    def withdraw(
        relay: Any, study: StudyId, patient: Address, scope: ConsentScope, **kw: Any
    ) -> Any:
        seen.append((relay, study, patient, scope.mask, kw["deadline"]))
        if scope.mask == ConsentScope.parse(["GRU"]).mask:
            raise ConsentNotActiveError(patient)
        return PurposesRevoked(
            STUDY, patient, _patient(99), scope.mask, 0x4, EventPosition(3, 1), "0xdd", 5
        )

    monkeypatch.setattr(relay_server, "relay_purpose_revocation", withdraw)
    relay = ForwardingRelay.__new__(ForwardingRelay)  # only the forwarding half is used here
    relay.remote = RemoteBatcher(path)
    hmb = ConsentScope.parse(["HMB"])
    event = relay_purpose_revocation(
        cast(RevocationRelay, relay), STUDY, _patient(2), hmb, deadline=77, signature=b"\x02" * 65
    )
    assert isinstance(event, PurposesRevoked)
    assert event.revoked == hmb.mask
    assert seen == [(server.relay, STUDY, _patient(2), hmb.mask, 77)]
    with pytest.raises(ConsentNotActiveError):
        relay.revoke_purposes(
            STUDY,
            _patient(2),
            ConsentScope.parse(["GRU"]).mask,
            deadline=77,
            signature=b"\x02" * 65,
        )
