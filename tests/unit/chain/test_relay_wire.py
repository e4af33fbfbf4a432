"""The frames between API workers and the batcher process (`chain.relay_wire`): events and
errors cross intact, and every malformed frame is a named `WireError`."""

from __future__ import annotations

import io
import struct

import pytest

from chain.errors import ChainError, ChainUnavailableError, UnknownStudyError
from chain.events import RevocationSkipped
from chain.purpose_errors import PurposesNotGrantedError
from chain.relay import DeadlineExpiredError, NonceMismatchError
from chain.relay_wire import (
    MAX_FRAME,
    WireError,
    decode_error,
    decode_event,
    encode_error,
    encode_event,
    encode_frame,
    read_frame,
)
from consent.events import ConsentRevoked, EventPosition
from consent.ids import Address, study_id

STUDY = study_id("wire")
PATIENT = Address("0x" + "ab" * 20)


def _frames(*raw: bytes) -> io.BytesIO:
    return io.BytesIO(b"".join(raw))


def test_frames_round_trip_in_order_and_end_cleanly() -> None:
    stream = _frames(encode_frame({"id": 1, "op": "ping"}), encode_frame({"id": 2, "ok": None}))
    assert read_frame(stream) == {"id": 1, "op": "ping"}
    assert read_frame(stream) == {"id": 2, "ok": None}
    assert read_frame(stream) is None


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        (b"\x00\x00", "inside a frame header"),
        (struct.pack(">I", 10) + b"{}", "inside a frame"),
        (struct.pack(">I", MAX_FRAME + 1), "at most"),
        (struct.pack(">I", 3) + b"\xff\xfe\x00", "not JSON"),
        (struct.pack(">I", 2) + b"[]", "integer id"),
        (struct.pack(">I", 12) + b'{"id": "1"} ', "integer id"),
    ],
)
def test_bad_frames_are_named_errors(raw: bytes, match: str) -> None:
    with pytest.raises(WireError, match=match):
        read_frame(_frames(raw))


def test_an_oversized_message_is_refused_before_sending() -> None:
    with pytest.raises(WireError, match="at most"):
        encode_frame({"id": 1, "blob": "x" * MAX_FRAME})


def test_events_round_trip() -> None:
    revoked = ConsentRevoked(STUDY, PATIENT, PATIENT, EventPosition(7, 2), "0x" + "11" * 32, 99)
    skipped = RevocationSkipped(STUDY, PATIENT, "NoActiveConsent", EventPosition(8, 0), "0x12")
    for event in (revoked, skipped):
        assert decode_event(encode_event(event)) == event


def test_a_non_event_or_a_bad_event_is_refused() -> None:
    with pytest.raises(WireError):
        encode_event(object())
    with pytest.raises(WireError):
        decode_event({"event": "ConsentRevoked", "fields": {"study": 1}})
    with pytest.raises(WireError):
        decode_event({"event": "os.system", "fields": {}})


def test_named_errors_come_back_as_their_class_with_their_attributes() -> None:
    nonce = decode_error(encode_error(NonceMismatchError(PATIENT, 3, 1)))
    assert isinstance(nonce, NonceMismatchError)
    assert (nonce.patient, nonce.nonce, nonce.current) == (PATIENT, 3, 1)
    assert str(nonce) == str(NonceMismatchError(PATIENT, 3, 1))
    expired = decode_error(encode_error(DeadlineExpiredError(5, 6)))
    assert isinstance(expired, DeadlineExpiredError)
    assert expired.now == 6
    unknown = decode_error(encode_error(UnknownStudyError({"study_id": bytes(STUDY)})))
    assert isinstance(unknown, UnknownStudyError)
    assert unknown.arguments["study_id"] == STUDY
    purposes = decode_error(encode_error(PurposesNotGrantedError(0x3, None)))
    assert isinstance(purposes, PurposesNotGrantedError)
    assert purposes.purposes == 0x3
    down = decode_error(encode_error(ChainUnavailableError("http://127.0.0.1:1", "refused")))
    assert isinstance(down, ChainUnavailableError)
    assert down.rpc == "http://127.0.0.1:1"


def test_an_unlisted_error_arrives_as_a_plain_chain_error() -> None:
    error = decode_error(encode_error(RuntimeError("boom")))
    assert type(error) is ChainError
    assert str(error) == "boom"
    with pytest.raises(WireError):
        decode_error({"nothing": 1})
