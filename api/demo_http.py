"""The demo's HTTP side: the patients' API served in a thread, and a patient's revocation."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

import httpx
import uvicorn

from api.app import create_app
from api.embedded import EmbeddedStudy
from api.services import Services
from chain.devnet import free_port
from consent.eip712 import sign_revocation
from consent.keys import PatientKey

__all__ = ["DemoError", "revoke_over_http", "serve_api"]

_HOST: Final = "127.0.0.1"
_SERVER_START_S: Final = 20.0


class DemoError(RuntimeError):
    """The demo could not run a step (the message says which)."""


@contextmanager
def serve_api(services: Services) -> Iterator[str]:
    """Serve the real HTTP API for `services` on a free 127.0.0.1 port, in a thread."""
    port = free_port(_HOST)
    config = uvicorn.Config(
        create_app(services=services), host=_HOST, port=port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="consentfl-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + _SERVER_START_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise DemoError(f"the HTTP API did not start on {_HOST}:{port}")
        time.sleep(0.02)
    try:
        yield f"http://{_HOST}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def revoke_over_http(
    client: httpx.Client, study: EmbeddedStudy, patient: PatientKey
) -> tuple[str, int]:
    """What a patient's app does: read the nonce, sign `Revocation` with the patient's own key,
    POST it to the API. Returns (tx hash, block)."""
    study_hex = "0x" + bytes(study.study).hex()
    base = f"/v1/studies/{study_hex}/patients/{patient.address}"
    status = client.get(f"{base}/consent")
    status.raise_for_status()
    nonce = int(status.json()["nonce"])
    deadline = study.chain.block_timestamp() + 3_600
    domain = study.coordinator.consents.domain
    signature = sign_revocation(
        patient.private_key, domain, study.study, patient.address, nonce, deadline
    )
    response = client.post(
        f"{base}/revocation",
        json={"signature": "0x" + signature.hex(), "deadline": deadline, "nonce": nonce},
    )
    if response.status_code not in (200, 201):
        raise DemoError(f"revocation of {patient.address} refused: {response.text}")
    body = response.json()
    return str(body["tx_hash"]), int(body["block_number"])
