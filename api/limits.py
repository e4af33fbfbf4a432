"""Request size limit as a pure ASGI middleware (counts streamed bodies too)."""

from __future__ import annotations

import json
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import PROBLEM_MEDIA_TYPE, PROBLEM_TYPE_PREFIX

__all__ = ["BodySizeLimit"]

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


async def _problem(send: Send, status: int, slug: str, title: str, detail: str) -> None:
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
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
