"""`KeepAliveHTTPProvider`: web3's `HTTPProvider` with single requests over `http.client`.

web3's HTTP provider posts every JSON-RPC request through a `requests` session: request
preparation, header and hook merging, urllib3's pool, `requests.Response` — ~0.68 ms of CPU a
bare `eth_blockNumber` to a local anvil against ~0.14 ms for the same POST on one kept-alive
`http.client` connection (session 11). A relayed revocation batch makes 2-3 requests (send,
receipt, now and then a base fee, a view refresh), and the relayer is one process whose CPU
bounds its rate. So for a plain `http://` URL that no proxy and no credentials apply to, single
requests go here over one keep-alive connection per thread (thread-safe without a lock; a
connection the node closed while idle is noticed before reuse, as urllib3 does, and opened
again); the bytes sent and the JSON read are web3's own (`encode_rpc_request`,
`decode_rpc_response`). Everything else is web3's provider unchanged: https, a proxy, netrc
credentials, batch requests, and the retries: a transport failure of a method web3 retries
(reads, `check_if_retry_on_failure`) is handed to web3's path, which retries it as before, and
any other failure raises the `OSError` (a send is never repeated here), which
`chain.connection.Unavailability` turns into `ChainUnavailableError` as it did `requests`'.
An HTTP status other than 200 raises `requests.HTTPError`, as web3's path does.
"""

from __future__ import annotations

import http.client
import select
import socket
import threading
from typing import Any, Final
from urllib.parse import urlsplit

import requests
from requests.utils import get_environ_proxies
from web3 import HTTPProvider
from web3.providers.rpc.utils import check_if_retry_on_failure
from web3.types import RPCEndpoint, RPCResponse

__all__ = ["KeepAliveHTTPProvider", "keeps_alive"]

_HEADERS: Final = {"Content-Type": "application/json"}


def keeps_alive(rpc: str, session: requests.Session) -> bool:
    """Whether `rpc`'s single requests may take the `http.client` path: plain http, no
    credentials in the URL or from netrc, no proxy for it (the session's, or the environment's
    when the session trusts it)."""
    parts = urlsplit(rpc)
    if parts.scheme != "http" or parts.username or parts.password or session.auth is not None:
        return False
    if any(session.proxies.get(key) for key in ("http", "all", f"http://{parts.hostname}")):
        return False
    return not (session.trust_env and get_environ_proxies(rpc))


def _dropped(connection: http.client.HTTPConnection) -> bool:
    """Whether the idle kept-alive `connection` was closed by the node (it is readable: EOF, or
    bytes nobody asked for); urllib3's `is_connection_dropped` check before reuse."""
    sock = connection.sock
    if sock is None:
        return True
    poller = select.poll()  # not select(): a server process may hold fds past FD_SETSIZE
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


class KeepAliveHTTPProvider(HTTPProvider):
    """An `HTTPProvider` whose single requests take one `http.client` connection per thread
    when `keeps_alive` allows (see the module docstring)."""

    def __init__(self, rpc: str, *, timeout: float, session: requests.Session) -> None:
        super().__init__(rpc, request_kwargs={"timeout": timeout}, session=session)
        parts = urlsplit(rpc)
        self._lean = keeps_alive(rpc, session)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 80
        self._target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._timeout = timeout
        self._local = threading.local()

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        if not self._lean:
            return super().make_request(method, params)
        data = self.encode_rpc_request(method, params)
        try:
            raw = self._post(data)
        except OSError:
            self._forget()
            retried = self.exception_retry_configuration
            if retried is not None and check_if_retry_on_failure(method, retried.method_allowlist):
                return super().make_request(method, params)  # web3's retries, as before
            raise
        return self.decode_rpc_response(raw)

    def _post(self, data: bytes) -> bytes:
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is not None and _dropped(connection):
            self._forget()
            connection = None
        try:
            if connection is None:
                connection = http.client.HTTPConnection(
                    self._host, self._port, timeout=self._timeout
                )
                connection.connect()
                # no Nagle: a request is one small write answered at once
                connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._local.connection = connection
            connection.request("POST", self._target, data, _HEADERS)
            response = connection.getresponse()
            body = response.read()
        except http.client.HTTPException as exc:  # a garbled answer: what requests raises too
            raise requests.ConnectionError(f"{type(exc).__name__}: {exc}") from exc
        if response.status >= 400:  # `raise_for_status`, as web3's path
            raise requests.HTTPError(
                f"{response.status} {response.reason} for url: {self.endpoint_uri}"
            )
        if response.will_close:
            self._forget()
        return body

    def _forget(self) -> None:
        """Close and drop this thread's connection (the next request opens a new one)."""
        connection = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None:
            connection.close()
