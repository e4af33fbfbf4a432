"""IpfsStore against a scripted stand-in for the RPC API (in-process, 127.0.0.1, free port)."""

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chain.store import (
    ArtifactNotFoundError,
    ArtifactStore,
    CorruptArtifactError,
    IpfsStore,
    StoreError,
    StoreUnavailableError,
    compute_cid,
)

HELLO = b"hello world\n"
HELLO_CID = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"
# What js-ipfs answers for HELLO: the same CIDv1 in base58btc.
HELLO_BASE58 = "zb2rhi36Gc9GJWijLEL6zW45MBux5FcFv5gJmjXA7VAMozEXY"


class FakeNode:
    """Answers each RPC path with a scripted (status, body) pair."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, bytes]] = {}
        self.calls: list[str] = []

    def error(self, path: str, message: str) -> None:
        body = json.dumps({"Message": message, "Code": 0, "Type": "error"}).encode()
        self.routes[path] = (500, body)

    def ok(self, path: str, body: bytes | dict[str, object]) -> None:
        self.routes[path] = (200, body if isinstance(body, bytes) else json.dumps(body).encode())


@pytest.fixture
def fake_node() -> Iterator[tuple[FakeNode, str]]:
    node = FakeNode()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            path = self.path.split("?")[0]
            node.calls.append(path)
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            elif self.headers.get("Transfer-Encoding") == "chunked":
                while (size := int(self.rfile.readline().strip() or b"0", 16)) > 0:
                    self.rfile.read(size + 2)
                self.rfile.readline()
            status, body = node.routes.get(path, (404, b"404 page not found"))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield node, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_ipfs_store_satisfies_the_protocol() -> None:
    assert isinstance(IpfsStore("http://127.0.0.1:5001"), ArtifactStore)


def test_put_normalizes_base58_answer_to_base32(fake_node: tuple[FakeNode, str]) -> None:
    node, url = fake_node
    node.ok("/api/v0/add", {"Name": "x", "Hash": HELLO_BASE58, "Size": "12"})

    assert IpfsStore(url).put(HELLO) == HELLO_CID


def test_put_answered_with_another_cid_raises_store_error(
    fake_node: tuple[FakeNode, str],
) -> None:
    node, url = fake_node
    node.ok("/api/v0/add", {"Name": "x", "Hash": compute_cid(b"other"), "Size": "5"})

    with pytest.raises(StoreError, match="expected"):
        IpfsStore(url).put(HELLO)


def test_get_of_bytes_not_matching_the_cid_raises_corrupt(
    fake_node: tuple[FakeNode, str],
) -> None:
    node, url = fake_node
    node.ok("/api/v0/block/stat", {"Key": HELLO_CID, "Size": 12})
    node.ok("/api/v0/cat", b"hello world!")

    with pytest.raises(CorruptArtifactError) as info:
        IpfsStore(url).get(HELLO_CID)

    assert info.value.cid == HELLO_CID


def test_get_of_matching_bytes_returns_them(fake_node: tuple[FakeNode, str]) -> None:
    node, url = fake_node
    node.ok("/api/v0/block/stat", {"Key": HELLO_CID, "Size": 12})
    node.ok("/api/v0/cat", HELLO)

    assert IpfsStore(url).get(HELLO_CID) == HELLO


def test_lookup_deadline_reported_by_node_means_not_found(
    fake_node: tuple[FakeNode, str],
) -> None:
    node, url = fake_node
    node.error("/api/v0/block/stat", "Failed to get block stats: request timed out")

    with pytest.raises(ArtifactNotFoundError):
        IpfsStore(url).get(HELLO_CID)
    assert node.calls == ["/api/v0/block/stat"]  # cat is never attempted
    assert not IpfsStore(url).has(HELLO_CID)


def test_other_node_error_raises_store_error(fake_node: tuple[FakeNode, str]) -> None:
    node, url = fake_node
    node.error("/api/v0/pin/add", "repo is read-only")

    with pytest.raises(StoreError, match="read-only") as info:
        IpfsStore(url).pin(HELLO_CID)

    assert not isinstance(info.value, ArtifactNotFoundError)


def test_node_that_is_down_raises_store_unavailable() -> None:
    store = IpfsStore(f"http://127.0.0.1:{_closed_port()}")

    with pytest.raises(StoreUnavailableError) as info:
        store.get(HELLO_CID)

    assert isinstance(info.value, ConnectionError)
    assert info.value.url == store.api_url
    with pytest.raises(StoreUnavailableError):
        store.put(HELLO)


def test_non_positive_timeouts_are_rejected() -> None:
    with pytest.raises(ValueError, match="positive"):
        IpfsStore("http://127.0.0.1:5001", timeout=0)
