"""The js-ipfs node as `consentfl dev up/down` uses it: a restart keeps data, a stop is final."""

import os
from pathlib import Path

import pytest

from chain.ipfs_node import IpfsNodeError, start_ipfs_node, stop_ipfs_node
from chain.store import IpfsStore, StoreUnavailableError
from tests.unit.chain.store.payloads import payload

pytestmark = pytest.mark.integration


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_restarted_node_keeps_artifacts_and_stopped_node_is_unavailable(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    data = payload(300_000, seed=42)
    first = start_ipfs_node(repo)
    try:
        cid = IpfsStore(first.api_url).put(data)
    finally:
        stop_ipfs_node(first.pid)
    assert _gone(first.pid)
    assert not (repo / "api").exists()

    second = start_ipfs_node(repo)
    try:
        assert IpfsStore(second.api_url).get(cid) == data
    finally:
        stop_ipfs_node(second.pid)

    with pytest.raises(StoreUnavailableError):
        IpfsStore(second.api_url, lookup_timeout=1).get(cid)


def test_start_with_missing_node_modules_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="npm ci"):
        start_ipfs_node(tmp_path / "repo", node_modules=tmp_path / "nowhere")


def test_start_on_a_broken_repo_raises_with_the_log(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "config").write_text("{}")  # looks initialised, but has no identity or datastore

    with pytest.raises(IpfsNodeError) as info:
        start_ipfs_node(repo, startup_timeout=30)

    assert info.value.repo == repo
