"""Errors as `application/problem+json` (RFC 9457): one stable `type` per kind of error.

Only `api/` knows HTTP status codes. Domain errors raised by `chain/` and `consent/` are mapped
here; anything unexpected becomes a 500 `internal-error` (logged with its traceback), which no
client input should ever reach.

`PROBLEM_SLUGS` lists every `type` (`urn:consentfl:problem:` + slug) per status; the README's HTTP
table is tested against it. A path parameter that is not well formed (an address, a study id, a
round number) is a 400 `invalid-identifier`: the URL names nothing. A body or query that parses
but breaks the schema is a 422 `invalid-request`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from chain.errors import (
    ChainError,
    ChainIdMismatchError,
    ChainUnavailableError,
    NoContractCodeError,
    UnknownStudyError,
)
from chain.purpose_relay import ConsentNotActiveError, PurposesNotGrantedError
from chain.relay import (
    DeadlineExpiredError,
    NonceMismatchError,
    PatientNotEnrolledError,
    RevocationReplayError,
    RevocationSignatureError,
)
from chain.relay_wire import RelayBatcherUnavailableError
from chain.store import StoreError, StoreUnavailableError
from consent.eip712 import CONSENT_REGISTRY_NAME
from consent.ids import InvalidIdentifierError
from consent.purposes import InvalidPurposesError, UnknownPurposeError

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "PROBLEM_SLUGS",
    "PROBLEM_TYPE_PREFIX",
    "WWW_AUTHENTICATE",
    "ApiError",
    "Problem",
    "RelayerUnavailableError",
    "UnknownRoundError",
    "install_problem_handlers",
    "problem_response",
    "problem_responses",
]

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE: Final = "application/problem+json"
PROBLEM_TYPE_PREFIX: Final = "urn:consentfl:problem:"
WWW_AUTHENTICATE: Final = f'EIP712 realm="{CONSENT_REGISTRY_NAME}"'
"""Sent with every 401: the realm is the EIP-712 domain name the signature must be bound to."""


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str = Field(description="stable URI of the kind of error")
    title: str
    status: int
    detail: str
    instance: str | None = None


class ApiError(Exception):
    """Root of errors raised by `api/` itself."""


class UnknownRoundError(ApiError, LookupError):
    """The study has no such round."""

    def __init__(self, round_: int, count: int) -> None:
        super().__init__(f"round {round_} does not exist; the study has {count} round(s)")
        self.round = round_
        self.count = count


class RelayerUnavailableError(ApiError, RuntimeError):
    """No relayer key is configured, so revocations cannot be relayed."""


class StoreNotConfiguredError(ApiError, RuntimeError):
    """No artifact store is configured, so artifacts cannot be checked."""


__all__ += ["StoreNotConfiguredError"]


@dataclass(frozen=True, slots=True)
class _Kind:
    slug: str
    status: int
    title: str


_KINDS: Final[tuple[tuple[type[BaseException], _Kind], ...]] = (
    (InvalidIdentifierError, _Kind("invalid-identifier", 400, "Malformed identifier")),
    (RevocationSignatureError, _Kind("invalid-signature", 401, "Invalid signature")),
    (UnknownStudyError, _Kind("unknown-study", 404, "Unknown study")),
    (PatientNotEnrolledError, _Kind("patient-not-enrolled", 404, "Patient never consented")),
    (UnknownRoundError, _Kind("unknown-round", 404, "Unknown round")),
    (RevocationReplayError, _Kind("replayed-signature", 409, "Signature already used")),
    (NonceMismatchError, _Kind("nonce-mismatch", 409, "Nonce is not current")),
    (DeadlineExpiredError, _Kind("deadline-expired", 422, "Deadline has passed")),
    (ConsentNotActiveError, _Kind("consent-not-active", 409, "Consent already revoked")),
    (PurposesNotGrantedError, _Kind("purposes-not-granted", 422, "Purposes not granted")),
    (UnknownPurposeError, _Kind("unknown-purpose", 422, "Unknown purpose code")),
    (InvalidPurposesError, _Kind("invalid-purposes", 422, "Invalid purposes")),
    (ChainUnavailableError, _Kind("chain-unavailable", 503, "Chain unavailable")),
    (ChainIdMismatchError, _Kind("chain-unavailable", 503, "Chain unavailable")),
    (NoContractCodeError, _Kind("chain-unavailable", 503, "Contracts unavailable")),
    (StoreUnavailableError, _Kind("store-unavailable", 503, "Artifact store unavailable")),
    (StoreNotConfiguredError, _Kind("store-unavailable", 503, "Artifact store unavailable")),
    (RelayerUnavailableError, _Kind("relayer-unavailable", 503, "Relayer unavailable")),
    (RelayBatcherUnavailableError, _Kind("relayer-unavailable", 503, "Relayer unavailable")),
    (ChainError, _Kind("chain-error", 502, "Chain error")),
    (StoreError, _Kind("store-error", 502, "Artifact store error")),
)
_HTTP_SLUGS: Final = {
    400: "bad-request",
    404: "not-found",
    405: "method-not-allowed",
    413: "body-too-large",
}
_OWN_SLUGS: Final = (
    (400, "malformed-body"),
    (400, "invalid-identifier"),
    (413, "body-too-large"),
    (414, "uri-too-long"),
    (422, "invalid-request"),
    (429, "too-many-requests"),
    (500, "internal-error"),
)
"""Problems raised by the handlers and middlewares themselves (not by a domain error)."""


def _slugs() -> dict[int, frozenset[str]]:
    pairs = {(kind.status, kind.slug) for _, kind in _KINDS} | set(_OWN_SLUGS)
    pairs |= {(status, slug) for status, slug in _HTTP_SLUGS.items() if status != 400}
    return {
        status: frozenset(slug for s, slug in pairs if s == status)
        for status in sorted({s for s, _ in pairs})
    }


PROBLEM_SLUGS: Final = _slugs()
"""Every problem `type` slug the API can answer, per status."""


def problem_response(
    status: int,
    slug: str,
    title: str,
    detail: str,
    *,
    instance: str | None = None,
    headers: Mapping[str, str] | None = None,
    retry_after: int | None = None,
    extra: Mapping[str, Any] | None = None,
) -> JSONResponse:
    """A problem+json response; 429s and 503s carry `Retry-After`."""
    body = Problem(
        type=PROBLEM_TYPE_PREFIX + slug,
        title=title,
        status=status,
        detail=detail,
        instance=instance,
    ).model_dump()
    body.update(extra or {})
    all_headers = dict(headers or {})
    if status in (429, 503) and retry_after is not None:
        all_headers["Retry-After"] = str(retry_after)
    return JSONResponse(
        body, status_code=status, headers=all_headers, media_type=PROBLEM_MEDIA_TYPE
    )


def _retry_after(request: Request) -> int:
    return int(getattr(request.app.state, "retry_after", 5))


def _domain_handler(request: Request, exc: Exception) -> JSONResponse:
    for kind_type, kind in _KINDS:
        if isinstance(exc, kind_type):
            headers = {}
            if kind.status == 401:
                headers["WWW-Authenticate"] = WWW_AUTHENTICATE
            if kind.status >= 500:
                logger.warning("%s on %s: %s", kind.slug, request.url.path, exc)
            return problem_response(
                kind.status,
                kind.slug,
                kind.title,
                str(exc),
                instance=request.url.path,
                headers=headers,
                retry_after=_retry_after(request),
            )
    logger.exception("unhandled error on %s", request.url.path, exc_info=exc)
    return problem_response(
        500, "internal-error", "Internal error", "unexpected error", instance=request.url.path
    )


def _validation_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type"))}
        for e in exc.errors()
    ]
    if any(e["type"] == "json_invalid" for e in errors):
        return problem_response(
            400, "malformed-body", "Malformed body", "the body is not valid JSON",
            instance=request.url.path,
        )  # fmt: skip
    in_path = [e for e in errors if e["loc"][:1] == ["path"]]
    if in_path:
        return problem_response(
            400,
            "invalid-identifier",
            "Malformed identifier",
            "; ".join(f"{e['loc'][-1]}: {e['msg']}" for e in in_path),
            instance=request.url.path,
            extra={"errors": in_path},
        )
    return problem_response(
        422,
        "invalid-request",
        "Invalid request",
        "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors),
        instance=request.url.path,
        extra={"errors": errors},
    )


def _http_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    slug = _HTTP_SLUGS.get(exc.status_code, "http-error")
    return problem_response(
        exc.status_code,
        slug,
        slug.replace("-", " ").capitalize(),
        str(exc.detail),
        instance=request.url.path,
        headers=exc.headers,
        retry_after=_retry_after(request),
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Map every error to problem+json on `app`."""
    handlers: dict[type[Exception], Callable[[Request, Exception], JSONResponse]] = {
        RequestValidationError: _validation_handler,
        StarletteHTTPException: _http_handler,
        Exception: _domain_handler,
    }
    for kind, _ in _KINDS:
        if issubclass(kind, Exception):
            handlers[kind] = _domain_handler
    for exc_type, handler in handlers.items():
        app.add_exception_handler(exc_type, handler)


_DESCRIPTIONS: Final = {
    400: "Malformed body or identifier",
    401: "Signature does not authorize the request (see WWW-Authenticate)",
    404: "Unknown study, patient or round",
    409: "Replayed signature or nonce not current",
    413: "Request body too large",
    414: "URL too long",
    422: "Invalid request",
    429: "Too many POST requests from this client (see Retry-After)",
    502: "The chain or store answered with an error",
    503: "Chain, store or relayer unavailable (see Retry-After)",
}
_HEADERS: Final = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "EIP712 realm"}},
    429: {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}},
    503: {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}},
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for problem+json answers with these statuses."""
    return {
        status: {
            "description": _DESCRIPTIONS.get(status, "Error"),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
            **({"headers": _HEADERS[status]} if status in _HEADERS else {}),
        }
        for status in statuses
    }
