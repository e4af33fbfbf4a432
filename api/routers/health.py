"""Liveness of the chain, the contracts and the artifact store."""

from __future__ import annotations

import logging
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.services import ServiceProvider, Services
from chain.errors import ChainError
from chain.store import StoreError

__all__ = ["ComponentHealth", "HealthOut", "router"]

logger = logging.getLogger(__name__)


class ComponentHealth(BaseModel):
    """One dependency's health."""

    ok: bool
    detail: str


class HealthOut(BaseModel):
    """Whether the chain, the contracts and the store are reachable."""

    status: Literal["ok", "unavailable"]
    chain: ComponentHealth
    contracts: ComponentHealth
    store: ComponentHealth


router = APIRouter(prefix="/v1", tags=["health"])


def _chain_and_contracts(services: Services) -> tuple[ComponentHealth, ComponentHealth]:
    ledger = services.ledger
    try:
        block = ledger.chain.block_number()
        missing = [
            n for n, a in ledger.manifest.addresses().items() if not ledger.chain.has_code(a)
        ]
    except ChainError as exc:
        down = ComponentHealth(ok=False, detail=str(exc))
        return down, ComponentHealth(ok=False, detail="chain unreachable")
    chain = ComponentHealth(ok=True, detail=f"chain {ledger.chain.chain_id} at block {block}")
    contracts = ComponentHealth(
        ok=not missing,
        detail=f"no code for {', '.join(missing)}" if missing else "all three contracts deployed",
    )
    return chain, contracts


def _store(services: Services) -> ComponentHealth:
    store = services.store
    if store is None:
        return ComponentHealth(ok=False, detail="no artifact store configured")
    version = getattr(store, "version", None)
    try:
        detail = f"IPFS node {version()}" if callable(version) else repr(store)
        store.has("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku")
    except (StoreError, OSError) as exc:
        return ComponentHealth(ok=False, detail=str(exc))
    return ComponentHealth(ok=True, detail=detail)


@router.get(
    "/health",
    response_model=HealthOut,
    responses={503: {"model": HealthOut, "description": "A dependency is unavailable"}},
    summary="Chain, contracts and store reachability",
)
def health(request: Request) -> JSONResponse:
    """200 when the chain answers, the three contracts have code and the store answers; 503 with
    Retry-After and the failing component otherwise."""
    provider: ServiceProvider = request.app.state.provider
    try:
        services = provider.get()
    except ChainError as exc:
        down = ComponentHealth(ok=False, detail=str(exc))
        unknown = ComponentHealth(ok=False, detail="not checked: chain unreachable")
        body = HealthOut(status="unavailable", chain=down, contracts=unknown, store=unknown)
    else:
        with services.session():
            chain, contracts = _chain_and_contracts(services)
            store = _store(services)
        ok = chain.ok and contracts.ok and store.ok
        body = HealthOut(
            status="ok" if ok else "unavailable", chain=chain, contracts=contracts, store=store
        )
    healthy = body.status == "ok"
    headers = {} if healthy else {"Retry-After": str(provider.settings.retry_after_seconds)}
    return JSONResponse(body.model_dump(), status_code=200 if healthy else 503, headers=headers)
