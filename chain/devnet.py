"""A local development network kept under one directory: anvil and the offline js-ipfs node,
both from the npm lockfile.

`up(directory)` starts whichever service is not running and records them in `DIR/devnet.json`
(a service that ran before comes back on its port); `down(directory)` stops them by pid and keeps
the record. Chain state lives in `DIR/chain.json` (dumped every 5 s and on exit) and the
IPFS repository in `DIR/ipfs`, so a restart loses nothing.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

from chain.compile import PROJECT_ROOT
from chain.errors import ChainError
from chain.ipfs_node import start_ipfs_node
from chain.processes import pid_alive
from chain.store import StoreError

__all__ = [
    "ANVIL_BINARY",
    "ANVIL_DEV_KEY",
    "DevnetError",
    "DevnetService",
    "down",
    "free_port",
    "port_is_free",
    "recorded",
    "start_anvil",
    "start_ipfs",
    "status",
    "stop_service",
    "up",
]

log = logging.getLogger(__name__)

ANVIL_BINARY: Final = (
    PROJECT_ROOT / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
)
ANVIL_DEV_KEY: Final = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
"""anvil's well-known test account 0 (public knowledge: for local development only)."""
HOST: Final = "127.0.0.1"
STATE_FILE: Final = "devnet.json"
_START_TIMEOUT: Final = 30.0
_STATES_IN_MEMORY: Final = 256


class DevnetError(ChainError, RuntimeError):
    """A devnet service could not be started or stopped."""


@dataclass(frozen=True, slots=True)
class DevnetService:
    """One running service of the devnet."""

    name: str
    pid: int
    url: str
    log_file: str


def port_is_free(port: int, host: str = HOST) -> bool:
    """Whether nothing listens on `host:port` (a stale node there would answer our clients)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = HOST) -> int:
    """A port that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])

    return True


def _rpc_answers(url: str) -> bool:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []})
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(url, data=body.encode(), headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310 (our http URL)
            return b"result" in response.read()
    except (OSError, urllib.error.URLError):
        return False


def stop_service(service: DevnetService, timeout: float = 15.0) -> None:
    """Stop `service` by pid: SIGTERM (anvil dumps its state), then SIGKILL after `timeout`."""
    if not pid_alive(service.pid):
        return
    os.kill(service.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            finished, _ = os.waitpid(service.pid, os.WNOHANG)
        except ChildProcessError:  # not our child: poll for existence instead
            finished = 0 if pid_alive(service.pid) else service.pid
        if finished == service.pid or not pid_alive(service.pid):
            return
        time.sleep(0.1)
    log.warning("%s (pid %d) ignored SIGTERM; killing it", service.name, service.pid)
    os.kill(service.pid, signal.SIGKILL)


def start_anvil(directory: Path, port: int | None = None) -> DevnetService:
    """Start anvil on 127.0.0.1 with its state under `directory`; returns once RPC answers."""
    if not ANVIL_BINARY.is_file():
        raise DevnetError(f"anvil not found at {ANVIL_BINARY}: run `npm ci`")
    port = free_port() if port is None else port
    if not port_is_free(port):
        raise DevnetError(f"port {port} on {HOST} is in use (a stale node?)")
    directory.mkdir(parents=True, exist_ok=True)
    log_file = directory / "anvil.log"
    command = [
        str(ANVIL_BINARY),
        "--host", HOST,
        "--port", str(port),
        "--silent",
        "--state", str(directory / "chain.json"),
        "--state-interval", "5",
        # Keep the last states in memory and none on disk (a bare --prune-history writes no GBs
        # under ~/.foundry but keeps no past state either: an eth_call for "latest" that races a
        # newly mined block then fails with BlockOutOfRangeError, seen under load).
        "--prune-history", str(_STATES_IN_MEMORY),
        "--cache-path", str(directory / "cache"),
    ]  # fmt: skip
    with log_file.open("ab") as log_handle:
        process = subprocess.Popen(
            command, stdout=log_handle, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://{HOST}:{port}"
    service = DevnetService("anvil", process.pid, url, str(log_file))
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DevnetError(f"anvil exited with code {process.returncode}; see {log_file}")
        if _rpc_answers(url):
            log.info("anvil up at %s (pid %d)", url, process.pid)
            return service
        time.sleep(0.1)
    stop_service(service)
    raise DevnetError(f"anvil did not answer on {url} within {_START_TIMEOUT:.0f} s")


def recorded(directory: Path) -> list[DevnetService]:
    """Every service recorded under `directory`, running or not (their ports stay theirs)."""
    path = directory / STATE_FILE
    if not path.is_file():
        return []
    try:
        entries = json.loads(path.read_text())["services"]
        return [DevnetService(**entry) for entry in entries]
    except (ValueError, KeyError, TypeError) as exc:
        raise DevnetError(f"corrupt devnet state file {path}: {exc}") from exc


def status(directory: Path) -> list[DevnetService]:
    """The services recorded under `directory` that are still running."""
    return [s for s in recorded(directory) if pid_alive(s.pid)]


def _port(service: DevnetService | None) -> int | None:
    return None if service is None else urllib.parse.urlsplit(service.url).port


def start_ipfs(directory: Path, port: int | None = None) -> DevnetService:
    """Start the offline IPFS node with its repository in `directory/ipfs` (API on `port`, or a
    free one)."""
    if port is not None and not port_is_free(port):
        raise DevnetError(f"port {port} on {HOST} is in use (a stale node?)")
    try:
        node = start_ipfs_node(directory / "ipfs", api_port=port or 0)
    except (StoreError, OSError) as exc:
        raise DevnetError(f"the IPFS node did not start: {exc}") from exc
    return DevnetService("ipfs", node.pid, node.api_url, str(node.repo / "daemon.log"))


def up(directory: Path, *, anvil_port: int | None = None, ipfs: bool = True) -> list[DevnetService]:
    """Start whichever devnet service under `directory` is not running; returns the services:
    anvil, then (unless `ipfs` is false) the IPFS node.

    A service that ran here before comes back on the port it had, so the URLs that clients and
    the deployment manifest hold stay valid. Refuses when every service already runs. Nothing
    this call started stays half-started.
    """
    directory = directory.resolve()
    before = {s.name: s for s in recorded(directory)}
    running = {s.name: s for s in before.values() if pid_alive(s.pid)}
    wanted = ["anvil", "ipfs"] if ipfs else ["anvil"]
    if all(name in running for name in wanted):
        shown = ", ".join(running[name].url for name in wanted)
        raise DevnetError(f"devnet in {directory} already runs: {shown}")
    services: list[DevnetService] = []
    started: list[DevnetService] = []
    try:
        for name in wanted:
            if name in running:
                services.append(running[name])
                continue
            port = anvil_port if name == "anvil" and anvil_port else _port(before.get(name))
            service = (
                start_anvil(directory, port) if name == "anvil" else start_ipfs(directory, port)
            )
            started.append(service)
            services.append(service)
    except DevnetError:
        for service in reversed(started):
            stop_service(service)
        raise
    kept = [s for name, s in before.items() if name not in wanted]
    body = {"services": [asdict(s) for s in services + kept]}
    (directory / STATE_FILE).write_text(json.dumps(body, indent=2) + "\n")
    return services


def down(directory: Path) -> list[DevnetService]:
    """Stop every service recorded under `directory`; returns those that were running.

    The record stays, so the next `up` brings each service back on its port.
    """
    directory = directory.resolve()
    running = status(directory)
    for service in reversed(running):
        stop_service(service)
    return running
