from pathlib import Path

import pytest

from chain.store import ArtifactStore, IpfsStore, LocalStore, open_store
from chain.store.ipfs import to_multiaddr


@pytest.mark.parametrize(
    "target",
    ["http://127.0.0.1:5001", "https://ipfs.example.org", "/ip4/127.0.0.1/tcp/5001/http"],
)
def test_open_store_picks_ipfs_for_urls_and_multiaddrs(target: str) -> None:
    store = open_store(target)

    assert isinstance(store, IpfsStore)
    assert isinstance(store, ArtifactStore)


def test_open_store_picks_local_store_for_a_path(tmp_path: Path) -> None:
    store = open_store(tmp_path / "artifacts")

    assert isinstance(store, LocalStore)
    assert (tmp_path / "artifacts" / "blocks").is_dir()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:5001", "/ip4/127.0.0.1/tcp/5001/http"),
        ("http://[::1]:5001/", "/ip6/::1/tcp/5001/http"),
        ("https://node.example.org", "/dns/node.example.org/tcp/443/https"),
        ("http://localhost", "/dns/localhost/tcp/5001/http"),
        ("/ip4/10.0.0.1/tcp/5001/http", "/ip4/10.0.0.1/tcp/5001/http"),
    ],
)
def test_to_multiaddr_converts_api_urls(url: str, expected: str) -> None:
    assert to_multiaddr(url) == expected


@pytest.mark.parametrize("url", ["ftp://host:1", "http://", "ipfs"])
def test_to_multiaddr_rejects_non_http_urls(url: str) -> None:
    with pytest.raises(ValueError, match="not an IPFS API URL"):
        to_multiaddr(url)
