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


def _cli(*args: str) -> dict[str, object]:
    result = subprocess.run(
        [*CLI, *args, "--json"], capture_output=True, text=True, timeout=180, check=False
    )
    assert result.returncode == 0, result.stderr
    payload: dict[str, object] = json.loads(result.stdout)
    return payload


def test_dev_up_restarts_the_stopped_node_on_its_port_and_the_manifest_supplies_the_urls(
    tmp_path: Path,
) -> None:
    from chain import devnet
    from chain.connection import connect
    from chain.manifest import load_manifest

    directory = tmp_path / "dev"
    first = _cli("dev", "up", "--dir", str(directory))
    try:
        rpc, ipfs = str(first["rpc"]), str(first["ipfs"])
        out = tmp_path / "deployment.json"
        _cli("chain", "deploy", "--rpc", rpc, "--ipfs", ipfs, "--out", str(out),
             "--key", str(first["dev_key"]))  # fmt: skip
        manifest = load_manifest(out)
        assert (manifest.rpc, manifest.ipfs) == (rpc, ipfs)
        cid = IpfsStore(ipfs).put(b"kept across restarts\n")

        # anvil dies, the IPFS node keeps running: `dev up` brings anvil back on its port
        (anvil,) = [s for s in devnet.status(directory) if s.name == "anvil"]
        devnet.stop_service(anvil)
        again = _cli("dev", "up", "--dir", str(directory))
        assert again["rpc"] == rpc
        assert again["ipfs"] == ipfs
        assert again["ipfs_pid"] == first["ipfs_pid"]
        assert again["pid"] != first["pid"]

        # no --rpc: the command uses the manifest's URL
        _cli("study", "create", "--deployment", str(out), "--key", str(first["dev_key"]),
             "--study", "restart-study", "--aggregator", str(manifest.deployer))  # fmt: skip
    finally:
        _cli("dev", "down", "--dir", str(directory))

    # both down, both up: same URLs, the chain and the artifacts are still there
    second = _cli("dev", "up", "--dir", str(directory))
    try:
        assert (second["rpc"], second["ipfs"]) == (rpc, ipfs)
        chain = connect(rpc)
        assert all(chain.has_code(address) for address in manifest.addresses().values())
        assert IpfsStore(ipfs).get(cid) == b"kept across restarts\n"
    finally:
        _cli("dev", "down", "--dir", str(directory))
