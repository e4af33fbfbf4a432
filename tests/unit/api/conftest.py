"""The web API over the eth-tester ledger: a TestClient with fresh services per test."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.services import Services
from api.settings import Settings
from chain.store import LocalStore
from chain.transactions import Sender
from tests.fixtures.ledger import LedgerWorld

RELAYER_ACCOUNT = 5


@dataclass(frozen=True, eq=False)
class ApiWorld:
    client: TestClient
    world: LedgerWorld
    services: Services
    store: LocalStore
    proofs: Path

    @property
    def study_hex(self) -> str:
        return "0x" + bytes(self.world.study).hex()


@pytest.fixture
def api(eth_tester_ledger: LedgerWorld, tmp_path: Path) -> Iterator[ApiWorld]:
    world = eth_tester_ledger
    relayer = Sender.unlocked(world.chain, world.chain.w3.eth.accounts[RELAYER_ACCOUNT])
    store = LocalStore(tmp_path / "store")
    proofs = tmp_path / "proofs"
    services = Services.for_ledger(world.coordinator, relayer=relayer, store=store, proofs=proofs)
    app = create_app(Settings(max_body_bytes=4096, post_rate_limit=0), services=services)
    with TestClient(app) as client:
        yield ApiWorld(client, world, services, store, proofs)
    services.history.close()
