"""Assembles the web API: routers, problem+json handlers, size limits, OpenAPI."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from api.limits import BodySizeLimit
from api.problems import Problem, install_problem_handlers
from api.routers import audit, consent, health, rounds
from api.services import ServiceProvider, Services
from api.settings import Settings, get_settings

__all__ = ["create_app"]


def create_app(settings: Settings | None = None, *, services: Services | None = None) -> FastAPI:
    """The FastAPI app for `settings` (default: `get_settings()`), or over injected `services`
    (tests, the embedded demo). Nothing connects until the first request."""
    settings = settings if settings is not None else get_settings()
    app = FastAPI(
        title="consentfl",
        version="1",
        description="Patient consent, training rounds and audit of a consent-aware federated"
        " study.",
    )
    app.state.provider = ServiceProvider(settings, services)
    app.state.retry_after = settings.retry_after_seconds
    for module in (consent, rounds, audit, health):
        app.include_router(module.router)
    install_problem_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = FastAPI.openapi(app)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components["Problem"] = Problem.model_json_schema()
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
