"""Frames between the API's worker processes and the batcher process (`consentfl api --workers`).

A frame is a 4-byte big-endian length then that many bytes of one UTF-8 JSON object (never
pickle): a request `{"id": n, "op": ..., ...}` or its answer `{"id": n, "ok": ...}` /
`{"id": n, "error": ...}`; the id lets many requests be in flight on one connection. Events
and errors cross as tagged JSON (`encode_event`/`decode_event`, `encode_error`/`decode_error`):
only the classes listed here are rebuilt, anything else arrives as a plain `ChainError` with its
message. Hand-written: the standard library has no length-prefixed JSON framing, and a
messaging library (zmq, grpc) would be a new native dependency for a few dozen lines.
"""

from __future__ import annotations

import dataclasses
import json
import struct
from typing import Any, Final, Protocol

from chain.errors import (
    ChainError,
    ChainUnavailableError,
    ContractRevertError,
    InvalidSignerError,
    NoActiveConsentError,
    SignatureExpiredError,
    UnknownStudyError,
)
from chain.events import PendingConsentsCancelled, RevocationSkipped
from chain.purpose_errors import ConsentNotActiveError, PurposesNotGrantedError
from chain.relay import (
    DeadlineExpiredError,
    NonceMismatchError,
    PatientNotEnrolledError,
    RevocationReplayError,
    RevocationSignatureError,
)
from consent.events import ConsentRevoked, EventPosition, PurposesRevoked

__all__ = [
    "MAX_FRAME",
    "Readable",
    "RelayBatcherUnavailableError",
    "WireError",
    "decode_error",
    "decode_event",
    "encode_error",
    "encode_event",
    "encode_frame",
    "read_frame",
]

MAX_FRAME: Final = 1 << 20
"""The largest frame accepted (a revocation request is ~300 bytes)."""
_HEADER: Final = struct.Struct(">I")


class Readable(Protocol):
    """A binary stream to read frames from (a socket's `makefile("rb")`, `io.BytesIO`)."""

    def read(self, size: int, /) -> bytes:
        """Up to `size` bytes; fewer only at the end of the stream."""
        ...


class WireError(ChainError, ValueError):
    """A frame that is not a length-prefixed JSON object of the relay's protocol."""


class RelayBatcherUnavailableError(ChainError, ConnectionError):
    """The batcher process cannot be reached (answered 503: nothing was sent by this request,
    or, if it was, the batcher's journal resends it at its next start)."""


_EVENTS: Final[dict[str, type[Any]]] = {
    cls.__name__: cls
    for cls in (ConsentRevoked, RevocationSkipped, PendingConsentsCancelled, PurposesRevoked)
}
_ERRORS: Final[dict[str, type[ChainError]]] = {
    cls.__name__: cls
    for cls in (
        ChainError,
        ContractRevertError,
        InvalidSignerError,
        NoActiveConsentError,
        SignatureExpiredError,
        UnknownStudyError,
        DeadlineExpiredError,
        NonceMismatchError,
        PatientNotEnrolledError,
        RevocationReplayError,
        RevocationSignatureError,
        ConsentNotActiveError,
        PurposesNotGrantedError,
        RelayBatcherUnavailableError,
    )
}


def encode_frame(message: dict[str, Any]) -> bytes:
    """`message` as one frame."""
    body = json.dumps(message, separators=(",", ":")).encode()
    if len(body) > MAX_FRAME:
        raise WireError(f"frame of {len(body)} bytes, at most {MAX_FRAME}")
    return _HEADER.pack(len(body)) + body


def read_frame(stream: Readable) -> dict[str, Any] | None:
    """The next frame's object; None at a clean end of stream (between frames)."""
    header = stream.read(_HEADER.size)
    if not header:
        return None
    if len(header) < _HEADER.size:
        raise WireError("stream ended inside a frame header")
    (size,) = _HEADER.unpack(header)
    if size > MAX_FRAME:
        raise WireError(f"frame of {size} bytes announced, at most {MAX_FRAME}")
    body = stream.read(size)
    if len(body) < size:
        raise WireError(f"stream ended inside a frame ({len(body)} of {size} bytes)")
    try:
        message = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise WireError(f"frame is not JSON: {exc}") from exc
    if not isinstance(message, dict) or not isinstance(message.get("id"), int):
        raise WireError("frame is not a JSON object with an integer id")
    return message


def _to_json(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"$b": value.hex()}
    if isinstance(value, EventPosition):
        return {"$p": [value.block_number, value.log_index]}
    if isinstance(value, dict):
        return {str(k): _to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_json(v) for v in value]
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)


def _from_json(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$b"}:
            return bytes.fromhex(value["$b"])
        if set(value) == {"$p"}:
            return EventPosition(int(value["$p"][0]), int(value["$p"][1]))
        return {k: _from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_json(v) for v in value]
    return value


def encode_event(event: Any) -> dict[str, Any]:
    """A relay outcome event (`ConsentRevoked`, `RevocationSkipped`, ...) as JSON."""
    name = type(event).__name__
    if name not in _EVENTS:
        raise WireError(f"{name} is not an event of the relay protocol")
    fields = {f.name: _to_json(getattr(event, f.name)) for f in dataclasses.fields(event)}
    return {"event": name, "fields": fields}


def decode_event(raw: Any) -> Any:
    """The event `encode_event` encoded; `WireError` for anything else."""
    try:
        cls = _EVENTS[raw["event"]]
        return cls(**{k: _from_json(v) for k, v in raw["fields"].items()})
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise WireError(f"not a relay event: {exc!r}") from exc


def encode_error(error: BaseException) -> dict[str, Any]:
    """An error as JSON: its class name, message and attributes."""
    if isinstance(error, ChainUnavailableError):
        return {"error": "ChainUnavailableError", "rpc": error.rpc, "reason": error.reason}
    name = type(error).__name__ if type(error).__name__ in _ERRORS else "ChainError"
    attributes = {k: _to_json(v) for k, v in vars(error).items() if not k.startswith("_")}
    return {"error": name, "message": str(error), "attributes": attributes}


def decode_error(raw: Any) -> ChainError:
    """The error `encode_error` encoded, rebuilt as its class (see the module docstring)."""
    try:
        if raw["error"] == "ChainUnavailableError":
            return ChainUnavailableError(str(raw["rpc"]), str(raw["reason"]))
        cls = _ERRORS.get(str(raw["error"]), ChainError)
        error = cls.__new__(cls)
        Exception.__init__(error, str(raw["message"]))
        for key, value in dict(raw.get("attributes", {})).items():
            setattr(error, str(key), _from_json(value))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise WireError(f"not a relay error: {exc!r}") from exc
    return error
