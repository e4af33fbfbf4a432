"""`chain.http_provider`: the keep-alive path answers as web3's `HTTPProvider`, against a small
JSON-RPC server in a thread (unit test: no chain)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from web3 import HTTPProvider
from web3.types import RPCEndpoint

from chain.connection import http_session
from chain.http_provider import KeepAliveHTTPProvider, keeps_alive


class _Node(ThreadingHTTPServer):
    daemon_threads = True
    status = 200
    close_after_answer = False
    drop_after_answer = False  # close without saying so (an idle keep-alive the node timed out)

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.connections: set[tuple[str, int]] = set()
        self.asked: list[str] = []


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server: _Node

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.connections.add(self.client_address)
        self.server.asked.append(body["method"])
        answer = {"jsonrpc": "2.0", "id": body["id"], "result": [body["method"], body["params"]]}
        if body["method"] == "fails":
            answer = {
                "jsonrpc": "2.0",
                "id": body["id"],
                "error": {"code": -32000, "message": "no"},
            }
        data = json.dumps(answer).encode()
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if self.server.close_after_answer:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        if self.server.close_after_answer or self.server.drop_after_answer:
            self.close_connection = True

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def node() -> Iterator[_Node]:
    server = _Node()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _url(node: _Node) -> str:
    return f"http://127.0.0.1:{node.server_address[1]}/"


def _provider(url: str) -> KeepAliveHTTPProvider:
    return KeepAliveHTTPProvider(url, timeout=5, session=http_session(url))


CALLS = [
    ("eth_blockNumber", []),
    ("eth_getLogs", [{"address": ["0x" + "ab" * 20], "fromBlock": "0x1", "toBlock": "0x2"}]),
    ("eth_sendRawTransaction", ["0x02f8"]),
    ("fails", [1, "two", None, True]),
]


def test_answers_are_web3_providers(node: _Node) -> None:
    lean, web3 = _provider(_url(node)), HTTPProvider(_url(node))
    for method, params in CALLS:
        mine = lean.make_request(RPCEndpoint(method), params)
        theirs = web3.make_request(RPCEndpoint(method), params)
        assert {k: v for k, v in mine.items() if k != "id"} == {
            k: v for k, v in theirs.items() if k != "id"
        }


def test_one_connection_per_thread_is_kept_alive(node: _Node) -> None:
    provider = _provider(_url(node))
    for _ in range(5):
        provider.make_request(RPCEndpoint("eth_blockNumber"), [])
    assert len(node.connections) == 1
    other = threading.Thread(target=provider.make_request, args=("eth_chainId", []))
    other.start()
    other.join()
    assert len(node.connections) == 2
    assert node.asked == ["eth_blockNumber"] * 5 + ["eth_chainId"]


def test_a_connection_the_node_closes_is_opened_again(node: _Node) -> None:
    node.close_after_answer = True
    provider = _provider(_url(node))
    for _ in range(3):
        assert provider.make_request(RPCEndpoint("eth_blockNumber"), [])["result"][0] == (
            "eth_blockNumber"
        )
    assert len(node.connections) == 3


def test_an_idle_connection_the_node_dropped_is_noticed_before_reuse(node: _Node) -> None:
    node.drop_after_answer = True
    provider = _provider(_url(node))
    provider.exception_retry_configuration = None  # a failure would raise, not be retried
    for _ in range(3):
        provider.make_request(RPCEndpoint("eth_sendRawTransaction"), ["0x02"])
        threading.Event().wait(0.05)  # the node's close reaches this end
    assert node.asked == ["eth_sendRawTransaction"] * 3  # each sent once
    assert len(node.connections) == 3


def test_an_http_error_status_raises_as_web3s_path(node: _Node) -> None:
    node.status = 500
    provider = _provider(_url(node))
    provider.exception_retry_configuration = None  # no retries: the lean path's own error
    with pytest.raises(requests.HTTPError, match="500"):
        provider.make_request(RPCEndpoint("eth_blockNumber"), [])
    with pytest.raises(requests.HTTPError, match="500"):
        HTTPProvider(_url(node), exception_retry_configuration=None).make_request(
            RPCEndpoint("eth_blockNumber"), []
        )


def test_a_node_that_is_down_raises_an_os_error_without_retrying_a_send() -> None:
    url = "http://127.0.0.1:9/"  # discard port: refused
    provider = _provider(url)
    with pytest.raises(OSError, match="refused"):
        provider.make_request(RPCEndpoint("eth_sendTransaction"), [{}])  # not retried by web3
    provider.exception_retry_configuration = None
    with pytest.raises(OSError, match="refused"):
        provider.make_request(RPCEndpoint("eth_blockNumber"), [])


def test_a_retried_method_goes_to_web3s_retries() -> None:
    provider = _provider("http://127.0.0.1:9/")
    web3_calls: list[str] = []

    def web3_path(method: str, data: bytes) -> bytes:
        web3_calls.append(method)
        return json.dumps({"jsonrpc": "2.0", "id": 1, "result": "retried"}).encode()

    provider._make_request = web3_path  # type: ignore[method-assign, assignment]
    answer = provider.make_request(RPCEndpoint("eth_blockNumber"), [])
    assert web3_calls == ["eth_blockNumber"]
    assert answer["result"] == "retried"


def test_only_plain_http_without_proxy_or_credentials_keeps_alive(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    assert keeps_alive("http://127.0.0.1:8545", http_session("http://127.0.0.1:8545"))
    assert not keeps_alive("https://node.example", http_session("https://node.example"))
    assert not keeps_alive("http://u:p@127.0.0.1:8545", http_session("http://127.0.0.1:8545"))
    proxied = http_session("http://127.0.0.1:8545")
    proxied.proxies = {"http": "http://proxy:3128"}
    assert not keeps_alive("http://127.0.0.1:8545", proxied)
    monkeypatch.setenv("HTTP_PROXY", "http://proxy:3128")
    monkeypatch.setenv("NO_PROXY", "")
    assert not keeps_alive("http://10.1.2.3:8545", http_session("http://10.1.2.3:8545"))
