"""The HTTP connection resolves the environment's proxy settings once, at connect."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests.sessions
import requests.utils

from chain.connection import connect, http_session

_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


class _Node(BaseHTTPRequestHandler):
    """A JSON-RPC 'node' that records the request target (absolute when sent via a proxy)."""

    seen: list[str]

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.seen.append(self.path)
        answer = json.dumps({"jsonrpc": "2.0", "id": body["id"], "result": "0x7a69"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def node() -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []
    handler = type("Handler", (_Node,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in _PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


def test_a_proxy_in_the_environment_is_resolved_at_connect_and_kept(
    node: tuple[str, list[str]], clean_env: pytest.MonkeyPatch
) -> None:
    proxy, seen = node
    clean_env.setenv("HTTP_PROXY", proxy)

    chain = connect("http://node.invalid:8545")
    clean_env.delenv("HTTP_PROXY")  # later changes to the environment are not looked at
    chain.w3.provider.make_request("eth_chainId", [])  # type: ignore[arg-type]

    assert chain.chain_id == 0x7A69
    assert seen == ["http://node.invalid:8545/"] * 2


def test_no_proxy_is_honoured_and_direct_requests_reach_the_node(
    node: tuple[str, list[str]], clean_env: pytest.MonkeyPatch
) -> None:
    url, seen = node
    clean_env.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    clean_env.setenv("NO_PROXY", "127.0.0.1")

    chain = connect(url)

    assert chain.chain_id == 0x7A69
    assert seen == ["/"]


def test_no_environment_lookup_happens_per_request(
    node: tuple[str, list[str]], clean_env: pytest.MonkeyPatch
) -> None:
    url, seen = node
    chain = connect(url)

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the environment was consulted for a request")

    for module in (requests.sessions, requests.utils):
        clean_env.setattr(module, "get_environ_proxies", refuse)
        clean_env.setattr(module, "get_netrc_auth", refuse, raising=False)
    for _ in range(3):
        chain.w3.provider.make_request("eth_chainId", [])  # type: ignore[arg-type]

    assert len(seen) == 4


def test_the_session_carries_the_ca_bundle_of_the_environment(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("REQUESTS_CA_BUNDLE", "/somewhere/ca.pem")
    clean_env.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")

    session = http_session("https://node.invalid")

    assert session.trust_env is False
    assert session.verify == "/somewhere/ca.pem"
    assert session.proxies == {"https": "http://proxy.invalid:3128"}
