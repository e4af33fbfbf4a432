"""Request limits as pure ASGI middlewares: body and URL size (counts streamed bodies too), and a
per-client-IP rate limit on POST."""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import PROBLEM_MEDIA_TYPE, PROBLEM_TYPE_PREFIX

__all__ = ["BodySizeLimit", "PostRateLimit"]

_MAX_URL_CHARS: Final = 2_048


class _TooLargeError(Exception):
    pass


class BodySizeLimit:
    """Answers 413 problem+json to bodies over `max_bytes` (declared or streamed) and 414 to
    overlong URLs, before the app reads them."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if len(scope.get("raw_path") or scope["path"]) + len(scope.get("query_string", b"")) > (
            _MAX_URL_CHARS
        ):
            await _problem(send, 414, "uri-too-long", "URI too long", "the URL is too long")
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = self.max_bytes + 1
                if declared > self.max_bytes:
                    await _problem(send, 413, "body-too-large", "Body too large", self._detail())
                    return
        received = 0
        started = too_large = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    too_large = True
                    raise _TooLargeError
            return message

        async def guarded_send(message: Message) -> None:
            # The app may turn the receive error into its own answer: replace it with the 413.
            nonlocal started
            if too_large:
                if not started:
                    started = True
                    await _problem(send, 413, "body-too-large", "Body too large", self._detail())
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _TooLargeError:
            if not started:
                await _problem(send, 413, "body-too-large", "Body too large", self._detail())

    def _detail(self) -> str:
        return f"the request body exceeds {self.max_bytes} bytes"


class PostRateLimit:
    """Answers 429 problem+json with Retry-After once a client IP has sent `limit` POSTs within
    the current `window` seconds (a fixed window per IP, counted in this process).

    Written by hand: a dict of counters is all one process needs, and the rate-limit libraries
    (slowapi, limits) would bring storage backends and decorators for that. Several API processes
    behind a proxy should limit at the proxy. `limit` 0 turns the limit off."""

    _PRUNE_AT: Final = 10_000

    def __init__(
        self,
        app: ASGIApp,
        *,
        limit: int,
        window: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.limit = limit
        self.window = window
        self._clock = clock
        self._windows: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and self.limit > 0:
            client = scope.get("client")
            wait = self._admit(client[0] if client else "unknown")
            if wait is not None:
                await _problem(
                    send, 429, "too-many-requests", "Too many requests",
                    f"more than {self.limit} POST requests in {self.window:g} s from this"
                    " client; retry later",
                    headers=[(b"retry-after", str(wait).encode())],
                )  # fmt: skip
                return
        await self.app(scope, receive, send)

    def _admit(self, client: str) -> int | None:
        """None when `client` may POST now, else the seconds until its window ends."""
        now = self._clock()
        with self._lock:
            if len(self._windows) >= self._PRUNE_AT:
                self._windows = {c: w for c, w in self._windows.items() if now - w[0] < self.window}
            start, count = self._windows.get(client, (now, 0))
            if now - start >= self.window:
                start, count = now, 0
            if count >= self.limit:
                return max(1, math.ceil(start + self.window - now))
            self._windows[client] = (start, count + 1)
            return None


async def _problem(
    send: Send,
    status: int,
    slug: str,
    title: str,
    detail: str,
    *,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    body = json.dumps(
        {"type": PROBLEM_TYPE_PREFIX + slug, "title": title, "status": status, "detail": detail}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
