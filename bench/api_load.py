"""The load `bench/bench_api.py` puts on `consentfl api`: cheap keep-alive HTTP clients.

The bench client shares the machine's 2 cores with the server and anvil, so each client thread
keeps one `http.client` connection (standard library, no per-request pool or model overhead;
httpx cost the client ~1 ms of CPU per request) and posts pre-encoded JSON bodies. With
`consentfl api --workers N` the server is a tree of processes (uvicorn's supervisor, its
workers, the batcher): `tree_cpu_seconds` sums them.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from api_profile import cpu_seconds

__all__ = ["run_load", "tree_cpu_seconds"]


def _descendants(pid: int) -> list[int]:
    found = [pid]
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):  # exited meanwhile
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                found.extend(_descendants(int(child)))
    return found


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of `pid` and every process below it, alive now."""
    total = 0.0
    for one in _descendants(pid):
        with contextlib.suppress(FileNotFoundError):  # exited meanwhile
            total += cpu_seconds(one)
    return total


def run_load(
    requests: list[tuple[str, dict[str, Any]]], clients: int, pids: dict[str, int] | None = None
) -> dict[str, Any]:
    """POST `requests` (absolute URLs) from `clients` threads, one keep-alive connection each;
    with `pids` (name -> pid), also the CPU each of those process trees spent per revocation."""
    pids = pids or {}
    cpu_before = {name: tree_cpu_seconds(pid) for name, pid in pids.items()}
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    local = threading.local()
    lock = threading.Lock()
    bodies = [(urlsplit(url), json.dumps(body).encode()) for url, body in requests]
    headers = {"Content-Type": "application/json"}

    def post(item: tuple[Any, bytes]) -> None:
        url, body = item
        connection = getattr(local, "connection", None)
        if connection is None:
            connection = local.connection = http.client.HTTPConnection(
                url.hostname, url.port, timeout=120
            )
            connection.connect()
            # http.client sends the headers and the body in two writes: without TCP_NODELAY
            # Nagle holds the body until the server's delayed ACK (~40 ms a request)
            connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        start = time.perf_counter()
        connection.request("POST", url.path, body, headers)
        response = connection.getresponse()
        response.read()
        elapsed = time.perf_counter() - start
        with lock:
            latencies.append(elapsed)
            statuses[response.status] = statuses.get(response.status, 0) + 1

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(post, bodies))
    elapsed = time.perf_counter() - start
    cpu = {
        name: round(1000 * (tree_cpu_seconds(pid) - cpu_before[name]) / len(requests), 2)
        for name, pid in pids.items()
    }
    ordered = sorted(latencies)
    return {
        "clients": clients,
        "revocations": len(requests),
        "statuses": statuses,
        "seconds": round(elapsed, 3),
        "revocations_per_second": round(len(requests) / elapsed, 1),
        "latency_ms_p50": round(1000 * statistics.median(ordered), 1),
        "latency_ms_p95": round(1000 * ordered[int(0.95 * (len(ordered) - 1))], 1),
        "cpu_ms_per_revocation": cpu,
    }
