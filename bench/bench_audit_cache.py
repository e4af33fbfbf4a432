"""GET /v1/studies/{study}/audit cold and cached, on anvil, over the demo's study (issue 11).

Starts anvil (from node_modules, in a temp dir), runs `consentfl demo` against it (its local store
and proofs), then serves `consentfl api` on that deployment. Measures: the audit computed directly
(`AuditVerifier.verify`, what every GET cost before the cache), the cold GET (first request until
the first up-to-date report, polling as a client would), and cached GETs (median and p95 latency).
Both processes are stopped by pid.

Run: .venv/bin/python bench/bench_audit_cache.py [--rounds 3 --cached 50]
Merges its figures into bench/results/audit.json (key "audit_cache") with targets.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from chain.audit import AuditVerifier
from chain.connection import connect
from chain.deploy import attach
from chain.devnet import free_port, start_anvil, stop_service
from chain.exclusions import ExclusionProofs
from chain.manifest import load_manifest
from chain.store import open_store
from consent.ids import study_id

RESULTS = Path(__file__).with_name("results") / "audit.json"
CONSENTFL = str(Path(sys.executable).parent / "consentfl")


def _serve(out: Path, rpc: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [
        CONSENTFL, "api", "--deployment", str(out / "deployment.json"), "--rpc", rpc,
        "--ipfs", str(out / "store"), "--proofs", str(out / "proofs"), "--port", str(port),
        "--log-level", "warning",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/v1/health", timeout=5).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError("consentfl api did not start")


def _measure(url: str, cached: int) -> dict[str, Any]:
    start = time.perf_counter()
    polls = 0
    while True:
        response = httpx.get(url, timeout=120)
        polls += 1
        if response.status_code == 200 and response.json()["up_to_date"]:
            break
        time.sleep(0.05)
    cold = time.perf_counter() - start
    checks = len(response.json()["checks"])
    latencies = []
    for _ in range(cached):
        t = time.perf_counter()
        body = httpx.get(url, timeout=120).json()
        latencies.append(time.perf_counter() - t)
        assert body["up_to_date"]
    ordered = sorted(latencies)
    return {
        "checks": checks,
        "cold_seconds": round(cold, 3),
        "cold_polls": polls,
        "cached_ms_p50": round(1000 * statistics.median(ordered), 2),
        "cached_ms_p95": round(1000 * ordered[int(0.95 * (len(ordered) - 1))], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cached", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as tmp:
        directory = Path(tmp)
        anvil = start_anvil(directory / "anvil")
        process = None
        try:
            out = directory / "demo"
            subprocess.run(
                [CONSENTFL, "demo", "--rpc", anvil.url, "--out", str(out),
                 "--rounds", str(args.rounds), "--json"],
                check=True, stdout=subprocess.DEVNULL,
            )  # fmt: skip
            manifest = load_manifest(out / "deployment.json")
            summary = json.loads((out / "summary.json").read_text())
            study = study_id(summary["study"])
            ledger = attach(connect(anvil.url), manifest)
            proofs = ExclusionProofs.load(out / "proofs")
            t = time.perf_counter()
            AuditVerifier(ledger, open_store(str(out / "store")), proofs).verify(study)
            direct = time.perf_counter() - t
            process, url = _serve(out, anvil.url)
            figures = _measure(f"{url}/v1/studies/0x{bytes(study).hex()}/audit", args.cached)
        finally:
            if process is not None:
                os.kill(process.pid, signal.SIGTERM)
                process.wait(timeout=15)
            stop_service(anvil)
    figures = {"rounds": args.rounds, "direct_audit_seconds": round(direct, 3), **figures}
    targets = [
        {
            "name": "cached GET /audit p95",
            "target": "< 50 ms",
            "value": f"{figures['cached_ms_p95']} ms",
            "met": figures["cached_ms_p95"] < 50,
            "why": "a cached report is one block-number call plus JSON; no audit runs",
        },
        {
            "name": "cached GET /audit vs computing the audit",
            "target": "at least 100x faster",
            "value": f"{direct * 1000 / figures['cached_ms_p50']:.0f}x",
            "met": direct * 1000 / figures["cached_ms_p50"] >= 100,
            "why": "the request path never runs the audit (one computation per block, tested)",
        },
    ]
    result = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    result["audit_cache"] = {
        "what": "GET /audit over the anvil demo study: cold (until the first up-to-date report)"
        " and cached",
        **figures,
    }
    others = [t for t in result.get("targets", []) if not t["name"].startswith("cached GET")]
    result["targets"] = others + targets
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["audit_cache"], indent=2))


if __name__ == "__main__":
    main()
