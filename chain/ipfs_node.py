"""Start and stop an offline js-ipfs node (npm `ipfs` 0.66.1 from the project's node_modules).

Used by the test fixture and by `consentfl dev up`. The node is fully offline: no bootstrap peers,
no MDNS, no preload, no gateway, the RPC API on 127.0.0.1 at a free port (read back from
`REPO/api`). Node 20 lacks `Promise.withResolvers`, which some js-ipfs dependencies call, so
`node_polyfill.js` (shipped beside this module) is preloaded with `node --require`.

The daemon gets a minimal environment of its own (`IPFS_PATH`, `HOME` pointing into the repo, the
npm update check off) rather than the caller's, so it cannot pick up a user's `~/.jsipfs`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from chain.processes import pid_alive
from chain.store.errors import StoreError
from chain.store.ipfs import to_multiaddr

__all__ = [
    "IpfsNode",
    "IpfsNodeError",
    "default_node_modules",
    "start_ipfs_node",
    "stop_ipfs_node",
]

logger = logging.getLogger(__name__)

POLYFILL: Final = Path(__file__).with_name("node_polyfill.js")
_CLI: Final = Path("ipfs", "src", "cli.js")
_LOG_NAME: Final = "daemon.log"
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class IpfsNodeError(StoreError, RuntimeError):
    """The js-ipfs node could not be initialised, started or stopped; `log_tail` says why."""

    def __init__(self, repo: Path, reason: str, *, log_tail: str = "") -> None:
        detail = f"\n--- daemon log ---\n{log_tail}" if log_tail else ""
        super().__init__(f"IPFS node in {repo}: {reason}{detail}")
        self.repo = repo
        self.reason = reason
        self.log_tail = log_tail


@dataclass(frozen=True, slots=True)
class IpfsNode:
    """A running node: its RPC API URL (`http://127.0.0.1:PORT`), pid and repository."""

    api_url: str
    pid: int
    repo: Path

    @property
    def multiaddr(self) -> str:
        """The API address as a multiaddr (`/ip4/127.0.0.1/tcp/PORT/http`)."""
        return to_multiaddr(self.api_url)


def default_node_modules() -> Path:
    """`node_modules` of the project checkout this package runs from."""
    return Path(__file__).resolve().parent.parent / "node_modules"


def _command(node_modules: Path, node: str | None, *args: str) -> list[str]:
    executable = node or shutil.which("node")
    if executable is None:
        raise FileNotFoundError("node (Node.js) is not on PATH")
    cli = node_modules / _CLI
    if not cli.is_file():
        raise FileNotFoundError(f"{cli} is missing: run `npm ci` in the project first")
    return [executable, "--require", str(POLYFILL), str(cli), *args]


def _environment(repo: Path) -> dict[str, str]:
    return {"IPFS_PATH": str(repo), "HOME": str(repo), "NO_UPDATE_NOTIFIER": "1"}


def _log_tail(repo: Path, lines: int = 30) -> str:
    try:
        text = (repo / _LOG_NAME).read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _configure(repo: Path, api_port: int) -> None:
    """Make the repo's config offline and loopback-only (idempotent)."""
    path = repo / "config"
    config: dict[str, Any] = json.loads(path.read_text())
    config.setdefault("Addresses", {}).update(
        {"API": f"/ip4/127.0.0.1/tcp/{api_port}", "Gateway": "", "RPC": "", "Swarm": []}
    )
    config["Bootstrap"] = []
    discovery = config.setdefault("Discovery", {})
    discovery["MDNS"] = {"Enabled": False, "Interval": 10}
    discovery["webRTCStar"] = {"Enabled": False}
    config["Routing"] = {"Type": "none"}
    config.setdefault("Pubsub", {})["Enabled"] = False
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(config, indent=2))
    os.replace(tmp, path)


def _init_repo(repo: Path, command: list[str]) -> None:
    repo.mkdir(parents=True, exist_ok=True)
    with (repo / _LOG_NAME).open("ab") as log:
        result = subprocess.run(
            command,
            env=_environment(repo),
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=120,
            check=False,
        )
    if result.returncode != 0 or not (repo / "config").is_file():
        raise IpfsNodeError(repo, "`jsipfs init` failed", log_tail=_log_tail(repo))


def _api_answers(api_url: str) -> bool:
    request = urllib.request.Request(f"{api_url}/api/v0/version", method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _api_url(repo: Path) -> str | None:
    try:
        multiaddr = (repo / "api").read_text().strip()
    except FileNotFoundError:
        return None
    parts = multiaddr.split("/")  # /ip4/127.0.0.1/tcp/PORT[/http]
    if len(parts) < 5 or parts[1] != "ip4" or parts[3] != "tcp":
        return None
    return f"http://{parts[2]}:{parts[4]}"


def start_ipfs_node(
    repo: Path,
    *,
    node_modules: Path | None = None,
    node: str | None = None,
    api_port: int = 0,
    startup_timeout: float = 60.0,
) -> IpfsNode:
    """Initialise `repo` if needed, start an offline daemon on it and wait until its API answers.

    `api_port=0` picks a free port. The daemon runs in its own session, so it outlives the
    caller unless stopped with `stop_ipfs_node`; its output goes to `REPO/daemon.log`.
    """
    repo = repo.resolve()
    modules = node_modules or default_node_modules()
    if not (repo / "config").is_file():
        _init_repo(repo, _command(modules, node, "init", "--profile", "test", "--empty-repo"))
    _configure(repo, api_port)
    (repo / "api").unlink(missing_ok=True)  # a stale file from a killed daemon
    command = _command(modules, node, "daemon", "--offline", "--enable-preload=false")
    with (repo / _LOG_NAME).open("ab") as log:
        process = subprocess.Popen(
            command,
            env=_environment(repo),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _CHILDREN[process.pid] = process
    deadline = time.monotonic() + startup_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            _CHILDREN.pop(process.pid, None)
            raise IpfsNodeError(
                repo, f"daemon exited with {process.returncode}", log_tail=_log_tail(repo)
            )
        api_url = _api_url(repo)
        if api_url is not None and _api_answers(api_url):
            logger.info("IPFS node %d up at %s (repo %s)", process.pid, api_url, repo)
            return IpfsNode(api_url=api_url, pid=process.pid, repo=repo)
        time.sleep(0.1)
    stop_ipfs_node(process.pid)
    raise IpfsNodeError(repo, f"API not up within {startup_timeout:g} s", log_tail=_log_tail(repo))


def _alive(pid: int) -> bool:
    child = _CHILDREN.get(pid)
    if child is not None:
        return child.poll() is None
    return pid_alive(pid)


def _is_ipfs_daemon(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False
    except OSError:
        return True  # no /proc to ask: trust the caller's pid
    return str(_CLI).encode() in cmdline and b"daemon" in cmdline


def stop_ipfs_node(pid: int, *, timeout: float = 15.0) -> None:
    """Stop the daemon `pid`: SIGTERM (a clean shutdown), SIGKILL after `timeout` seconds.

    A pid that is gone, or that is not a js-ipfs daemon (pid reuse), is left alone.
    """
    if pid not in _CHILDREN and (not _alive(pid) or not _is_ipfs_daemon(pid)):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):
        logger.warning("IPFS node %d ignored SIGTERM; killing it", pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    child = _CHILDREN.pop(pid, None)
    if child is not None:
        child.wait(timeout=timeout)
