"""The POST rate limit: per client IP, from settings, 429 problem+json with Retry-After."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from api.app import create_app
from api.limits import PostRateLimit
from api.problems import PROBLEM_MEDIA_TYPE, PROBLEM_TYPE_PREFIX
from api.settings import Settings
from tests.unit.api.conftest import ApiWorld


def test_posts_over_the_limit_get_429_with_retry_after_and_reach_no_chain(api: ApiWorld) -> None:
    app = create_app(
        Settings(post_rate_limit=2, post_rate_window_seconds=60), services=api.services
    )
    api.world.grant(0)
    path = f"/v1/studies/{api.study_hex}/patients/{api.world.patient(0)}/revocation"
    bad = {"signature": "0x" + "00" * 65, "deadline": 1}
    with TestClient(app) as client:
        allowed = [client.post(path, json=bad).status_code for _ in range(2)]
        block = api.world.chain.block_number()
        limited = client.post(path, json=bad)
        reads = client.get(path.replace("/revocation", "/consent"))

    assert 429 not in allowed
    assert limited.status_code == 429
    assert limited.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert limited.json()["type"] == PROBLEM_TYPE_PREFIX + "too-many-requests"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert api.world.chain.block_number() == block
    assert reads.status_code == 200


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _ok(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def _post(limiter: PostRateLimit, client: str, method: str = "POST") -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: dict[str, Any] = {"type": "http", "method": method, "client": (client, 1)}
    await limiter(scope, receive, send)
    return sent


@pytest.mark.anyio
async def test_the_window_is_per_ip_and_resets_after_its_length() -> None:
    clock = _Clock()
    limiter = PostRateLimit(_ok, limit=1, window=10, clock=clock)

    first = (await _post(limiter, "10.0.0.1"))[0]["status"]
    second = (await _post(limiter, "10.0.0.1"))[0]
    other = (await _post(limiter, "10.0.0.2"))[0]["status"]
    get = (await _post(limiter, "10.0.0.1", "GET"))[0]["status"]
    clock.now += 4
    still = (await _post(limiter, "10.0.0.1"))[0]
    clock.now += 6
    again = (await _post(limiter, "10.0.0.1"))[0]["status"]

    assert (first, second["status"], other, get, again) == (204, 429, 204, 204, 204)
    assert (b"retry-after", b"10") in second["headers"]
    assert still["status"] == 429
    assert (b"retry-after", b"6") in still["headers"]


@pytest.mark.anyio
async def test_limit_zero_turns_the_limit_off() -> None:
    limiter = PostRateLimit(_ok, limit=0, window=10)

    statuses = [(await _post(limiter, "10.0.0.1"))[0]["status"] for _ in range(50)]

    assert set(statuses) == {204}
