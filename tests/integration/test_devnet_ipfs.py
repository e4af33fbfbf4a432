"""`consentfl dev up` starts anvil and the IPFS node; `dev down` stops both by pid."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from chain.store import IpfsStore

CLI = [sys.executable, "-c", "from api.cli import app; app()"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_dev_up_serves_chain_and_ipfs_then_dev_down_stops_both(tmp_path: Path) -> None:
    directory = tmp_path / "dev"
    up = subprocess.run(
        [*CLI, "dev", "up", "--dir", str(directory), "--json"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert up.returncode == 0, up.stderr
    info = json.loads(up.stdout)
    try:
        assert info["rpc"].startswith("http://127.0.0.1:")
        assert info["ipfs"].startswith("http://127.0.0.1:")
        store = IpfsStore(info["ipfs"])
        cid = store.put(b"consentfl devnet\n")
        assert store.get(cid) == b"consentfl devnet\n"
    finally:
        down = subprocess.run(
            [*CLI, "dev", "down", "--dir", str(directory), "--json"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert down.returncode == 0, down.stderr
    assert sorted(json.loads(down.stdout)["stopped"]) == ["anvil", "ipfs"]
    assert not _alive(info["pid"])
    assert not _alive(info["ipfs_pid"])
