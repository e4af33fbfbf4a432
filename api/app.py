"""Assembles the web API: routers, problem+json handlers, request limits, the audit cache,
OpenAPI."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Final

from fastapi import FastAPI
from pydantic import BaseModel

from api import schemas
from api.audit_cache import AuditCache
from api.limits import BodySizeLimit, PostRateLimit
from api.problems import Problem, install_problem_handlers, problem_responses
from api.routers import (
    audit,
    cancellation,
    consent,
    datasets,
    eip712,
    health,
    page,
    patient,
    rounds,
)
from api.services import ServiceProvider, Services
from api.settings import Settings, get_settings
from api.wiring import default_audit_checks
from chain.audit import AuditReport, AuditVerifier
from chain.exclusions import ExclusionProofs
from consent.ids import StudyId

logger = logging.getLogger(__name__)

__all__ = ["create_app"]

_MODELS: Final[tuple[type[BaseModel], ...]] = (
    Problem,
    *(
        model
        for model in (getattr(schemas, name) for name in schemas.__all__)
        if isinstance(model, type) and issubclass(model, BaseModel)
    ),
)


def _audit_of(provider: ServiceProvider) -> Callable[[StudyId], AuditReport]:
    def compute(study: StudyId) -> AuditReport:
        with provider.get().session() as services:
            if services.store is None:
                raise RuntimeError("no artifact store is configured")
            proofs = (
                ExclusionProofs.load(services.proofs)
                if services.proofs is not None and services.proofs.is_dir()
                else ExclusionProofs()
            )
            return AuditVerifier(
                services.ledger, services.store, proofs, checks=default_audit_checks()
            ).verify(study)

    return compute


def _warm(provider: ServiceProvider) -> None:
    try:
        provider.get()
    except Exception as exc:
        logger.warning("services not ready at start: %s", exc)


def create_app(settings: Settings | None = None, *, services: Services | None = None) -> FastAPI:
    """The FastAPI app for `settings` (default: `get_settings()`), or over injected `services`
    (tests, the embedded demo). Nothing connects until the first request."""
    settings = settings if settings is not None else get_settings()
    provider = ServiceProvider(settings, services)
    audits = AuditCache(_audit_of(provider), max_age=settings.audit_max_age_seconds)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if settings.relayer_key is not None and services is None:
            # resend journalled revocations now, not at the first request (the chain may be
            # down: then the first request that reaches it does)
            threading.Thread(target=_warm, args=(provider,), daemon=True).start()
        yield
        audits.close()

    app = FastAPI(
        title="consentfl",
        version="1",
        description="Patient consent, training rounds and audit of a consent-aware federated"
        " study.",
        lifespan=lifespan,
    )
    app.state.provider = provider
    app.state.audits = audits
    app.state.retry_after = settings.retry_after_seconds
    for module in (consent, cancellation, eip712, patient, rounds, audit, datasets, health, page):
        app.include_router(module.router)
    install_problem_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(
        PostRateLimit, limit=settings.post_rate_limit, window=settings.post_rate_window_seconds
    )

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema, plus what the middlewares answer, with exact integer bounds."""
    schema = FastAPI.openapi(app)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    # FastAPI's OpenAPI model types numeric bounds as floats (2**256 - 1 became
    # 1.157920892373162e+77): take the models' schemas from pydantic as they are.
    for model in _MODELS:
        name = model.__name__
        if name in components or model is Problem:
            generated = model.model_json_schema(ref_template="#/components/schemas/{model}")
            generated.pop("$defs", None)
            components[name] = generated
    for operations in schema["paths"].values():
        for method, operation in operations.items():
            extra = [414]  # every URL can be too long
            if "requestBody" in operation:
                extra.append(413)
            if method == "post":
                extra.append(429)
            operation["responses"].update({str(s): r for s, r in problem_responses(*extra).items()})
    return schema
