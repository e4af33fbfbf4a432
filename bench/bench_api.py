"""Relayed revocations through the HTTP API on anvil: throughput and latency (issues 5, 19).

Starts anvil (from node_modules, in a temp dir) and `consentfl api` (uvicorn, a free 127.0.0.1
port), deploys, grants consent to enough patients in batches, has every patient sign a revocation
before the clock starts (patients sign on their own devices), then POSTs the revocations with 1 and
with 20 concurrent clients. Each request returns only once its receipt is in, so latency includes
the relayer's transaction and anvil's mining (automine). Both processes are stopped by pid.

Since issue 19 the relayer batches: every revocation waiting while it sends goes out in one
`revokeBatchWithSig`, several batches in flight; the bench counts the transactions that carried
the revocations (from the `ConsentRevoked` events) to show the batch sizes.

Run: .venv/bin/python bench/bench_api.py [--single 100 --concurrent 1000 --clients 20]
Writes bench/results/api.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from api_load import run_load
from api_profile import LAUNCHER, cpu_split, profile_top
from eth_account import Account
from eth_account.signers.local import LocalAccount

from chain.consent_registry import SignedConsent
from chain.deploy import Ledger
from chain.dev_study import dev_account, one_hospital_study
from chain.devnet import free_port, start_anvil, stop_service
from chain.manifest import save_manifest
from consent.eip712 import sign_consent, sign_revocation
from consent.events import ConsentRevoked
from consent.ids import Bytes32, parse_address, study_id
from consent.keys import PatientKey, save_hex_key

RESULTS = Path(
    os.environ.get("BENCH_API_RESULTS", Path(__file__).with_name("results") / "api.json")
)
STUDY = study_id("bench-api")


def _setup(rpc: str, patients: list[LocalAccount]) -> Ledger:
    study = one_hospital_study(
        rpc, STUDY, metadata_cid="bafkreibench", seal_key=Bytes32(b"\x03" * 32)
    )
    domain = study.hospital.consents.domain
    signed = [
        SignedConsent(
            parse_address(p.address),
            0,
            sign_consent(
                p.key, domain, STUDY, parse_address(p.address), study.hospital_address, 0, 0, 2**40
            ),
            2**40,
        )
        for p in patients
    ]
    study.hospital.consents.grant_batch(STUDY, signed)
    return study.coordinator


def _requests(
    ledger: Ledger, url: str, patients: list[LocalAccount]
) -> list[tuple[str, dict[str, Any]]]:
    domain = ledger.consents.domain
    deadline = ledger.chain.block_timestamp() + 3600
    study = "0x" + STUDY.hex()
    out = []
    for patient in patients:
        address = parse_address(patient.address)
        signature = sign_revocation(patient.key, domain, STUDY, address, 0, deadline)
        out.append(
            (
                f"{url}/v1/studies/{study}/patients/{address}/revocation",
                {"signature": "0x" + signature.hex(), "deadline": deadline, "nonce": 0},
            )
        )
    return out


BEFORE = {
    "commit": "cand5 426d203 (one revokeWithSig per request, receipt awaited under a lock)",
    "revocations_per_second_1_client": 31.9,
    "revocations_per_second_20_clients": 27.8,
    "latency_ms_p50_20_clients": 703.6,
    "latency_ms_p95_20_clients": 818.6,
}
TARGET_PER_S = 300
LOG = Path(tempfile.gettempdir()) / "bench-api-server.log"


def _transactions(ledger: Ledger, first_block: int) -> dict[str, Any]:
    """How many transactions carried the run's revocations, and their sizes."""
    events = [
        e for e in ledger.consents.consent_events(first_block) if isinstance(e, ConsentRevoked)
    ]
    sizes = sorted(Counter(e.tx_hash for e in events).values())
    return {
        "revocations": len(events),
        "transactions": len(sizes),
        "batch_size_max": max(sizes, default=0),
        "batch_size_median": statistics.median(sizes) if sizes else 0,
    }


def _same_run(run: dict[str, Any], baseline: dict[str, Any] | None, index: int = 0) -> str:
    """The figure of the code before (`--baseline`) in the same run for `run` (its `index`-th
    run), if measured: the targets' figures were an idle machine's, so a loaded run is compared
    with its own baseline."""
    if baseline is None:
        return ""
    before = baseline["runs"][index]
    rate = before["revocations_per_second"]
    return (
        f"; the code at {baseline['commit']} in the same run (load {baseline['load_1min']:.1f}): "
        f"{rate}/s, p50 {before['latency_ms_p50']} ms, relayer CPU "
        f"{(before.get('cpu_ms_per_revocation') or {}).get('server')} ms per revocation, so "
        f"this is {run['revocations_per_second'] / rate:.2f}x it"
    )


def _serial_bound(single: dict[str, Any], target: float) -> str:
    """Why a lone client misses `target`: its revocations are served one after the other, so the
    relayer's and anvil's CPU per revocation add up (unprofiled, from `/proc`)."""
    cpu = single.get("cpu_ms_per_revocation") or {}
    server, node = cpu.get("server", 0.0), cpu.get("anvil", 0.0)
    if single["revocations_per_second"] >= target or not server:
        return ""
    return (
        f"; missed: a lone revocation costs the relayer {server} ms and anvil {node} ms of CPU "
        f"one after the other, so at most {1000 / (server + node):.0f}/s even on an idle "
        "machine; most of the relayer's is the transaction (build, sign, send, receipt and "
        "event decoding), then HTTP"
    )


def _targets(
    single: dict[str, Any],
    concurrent: dict[str, Any],
    baseline: dict[str, Any] | None = None,
    workers: int = 1,
) -> list[dict[str, Any]]:
    rate = concurrent["revocations_per_second"]
    met = rate >= TARGET_PER_S
    txs = concurrent["transactions"]
    why = (
        f"consentfl api --workers {workers}; "
        f"p50 {concurrent['latency_ms_p50']} ms, p95 {concurrent['latency_ms_p95']} ms; "
        f"{txs['revocations']} revocations in {txs['transactions']} transactions (median batch "
        f"{txs['batch_size_median']}); before issue 19: "
        f"{BEFORE['revocations_per_second_20_clients']}/s" + _same_run(concurrent, baseline, 1)
    )
    if not met:
        cpu = concurrent.get("cpu_ms_per_revocation") or {}
        server, node = cpu.get("server", 0.0), cpu.get("anvil", 0.0)
        why += (
            f"; missed: the relayer's one process spends {server} ms of CPU per revocation "
            f"(anvil {node} ms), so it cannot pass {1000 / server:.0f}/s on a core of its own, "
            f"and 2 cores serve at most {2000 / (server + node):.0f}/s however many API "
            "processes share them; per transaction web3's encoding, signing and receipt "
            "decoding (the batcher's send and settle) is most of it, then HTTP and JSON, "
            "the EIP-712 check and the signed receipt: see `profile_20_clients`"
            if server
            else "; missed: see `profile_20_clients`"
        )
    return [
        {
            "name": f"relayed revocations per second, {concurrent['clients']} clients (anvil)",
            "target": f">= {TARGET_PER_S}/s",
            "value": f"{rate}/s",
            "met": met,
            "why": why,
        },
        {
            "name": "relayed revocations per second, 1 client (anvil)",
            "target": f">= {BEFORE['revocations_per_second_1_client']}/s (no slower than before)",
            "value": f"{single['revocations_per_second']}/s",
            "met": single["revocations_per_second"] >= BEFORE["revocations_per_second_1_client"],
            "why": f"p50 {single['latency_ms_p50']} ms, p95 {single['latency_ms_p95']} ms"
            + _same_run(single, baseline)
            + _serial_bound(single, BEFORE["revocations_per_second_1_client"]),
        },
    ]


_HIDDEN = ("uvloop", "httptools")


def _stack() -> str:
    """The event loop and HTTP parser `consentfl api` gets here (uvicorn's "auto" choice)."""
    try:
        import httptools  # noqa: F401
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio + h11"
    return "uvloop + httptools"


def _other_run(args: argparse.Namespace, code: Path, *, hide_stack: bool) -> dict[str, Any]:
    """This bench run against the code in `code` (PYTHONPATH first, so the server process and
    the ledger calls use it), with `hide_stack` with uvloop and httptools hidden (asyncio + h11),
    its figures read back from a temporary results file."""
    with tempfile.TemporaryDirectory(prefix="bench-api-other-") as tmp:
        hide = Path(tmp) / "hide"
        hide.mkdir()
        for name in _HIDDEN if hide_stack else ():
            (hide / f"{name}.py").write_text(f"raise ImportError('{name} hidden by bench_api')\n")
        out = Path(tmp) / "api.json"
        path = os.pathsep.join([str(hide), str(code)])
        env = {**os.environ, "PYTHONPATH": path, "BENCH_API_RESULTS": str(out)}
        command = [
            *(sys.executable, str(Path(__file__)), "--single", str(args.single)),
            *("--concurrent", str(args.concurrent), "--clients", str(args.clients)),
            *("--profiled", str(args.profiled), "--workers", "1"),
        ]
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
        result = json.loads(out.read_text())
    commit = subprocess.run(
        ["git", "-C", str(code), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    profile = result.get("profile_20_clients") or {}
    return {"code": str(code), "commit": commit, "stack": result["stack"],
            "load_1min": result["machine_load_1min"], "runs": result["runs"],
            "cpu_ms_per_request": profile.get("cpu_ms_per_request")}  # fmt: skip


def _profiled_run(
    directory: Path, rpc: str, manifest: Path, requests: list[tuple[str, dict[str, Any]]],
    clients: int,
) -> dict[str, Any]:  # fmt: skip
    """The concurrent run again, on other patients, with the server under a per-thread CPU
    profile after a warm-up (`api_profile`: slower, so its figures only say where the CPU
    goes)."""
    out = directory / "server.prof"
    process, url = _serve(directory, rpc, manifest, profile_to=out)
    warm, measured = requests[:clients], requests[clients:]
    try:
        run_load([(url + path, body) for path, body in warm], clients)
        os.kill(process.pid, signal.SIGUSR1)  # the profile counts from here
        run = run_load([(url + path, body) for path, body in measured], clients)
    finally:
        os.kill(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
    keep = os.environ.get("BENCH_API_PROFILE")
    if keep:  # for pstats by hand: the temp dir goes at the end of the run
        shutil.copyfile(out, keep)
    return {
        "run_under_profile": run,
        "timer": "time.thread_time per thread (CPU only: lock, queue and socket waits count 0)",
        "cpu_ms_per_request": cpu_split(out, len(measured)),
        "warm_up": f"{len(warm)} revocations before the profile starts (imports, the view's "
        "catch-up over the set-up's logs, thread starts)",
        "top_own_cpu": profile_top(out),
    }


def _serve(
    directory: Path, rpc: str, manifest: Path, profile_to: Path | None = None, workers: int = 1
) -> tuple[subprocess.Popen[bytes], str]:
    """`consentfl api [--workers N]` on a free port; with `profile_to`, under cProfile in every
    thread (a profile per thread, merged into `profile_to` when the server stops)."""
    key = directory / "relayer.key"
    if not key.exists():  # a second server (the profiled run) uses the same key
        save_hex_key(PatientKey.from_private_key(bytes(dev_account(9).key)), key)
    port = free_port()
    launcher = [str(Path(sys.executable).parent / "consentfl")]
    if profile_to is not None:
        code = LAUNCHER.replace("OUT", repr(str(profile_to)))
        # -P: no cwd first on sys.path, or a `--baseline` run started from a checkout would
        # profile that checkout's code instead of the PYTHONPATH one
        launcher = [sys.executable, "-P", "-c", code, "consentfl"]
    command = [
        *launcher, "api", "--deployment", str(manifest),
        "--relayer-key", str(key), "--rpc", rpc, "--port", str(port), "--log-level", "warning",
        *(("--workers", str(workers)) if workers > 1 else ()),
    ]  # fmt: skip
    # the bench posts hundreds of revocations from one IP: no rate limit
    env = {**os.environ, "CONSENTFL_POST_RATE_LIMIT": "0"}
    process = subprocess.Popen(command, stdout=LOG.open("ab"), stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/v1/studies/{'0x' + STUDY.hex()}/rounds", timeout=2).is_success:
                return process, url
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError("consentfl api did not start")


def _measure(
    directory: Path, anvil: Any, ledger: Ledger, manifest: Path,
    patients: list[LocalAccount], args: argparse.Namespace, workers: int,
) -> dict[str, Any]:  # fmt: skip
    """One lone client, then `args.clients`, against `consentfl api --workers workers`."""
    process, url = _serve(directory, anvil.url, manifest, workers=workers)
    try:
        requests = _requests(ledger, url, patients)
        pids = {"server": process.pid, "anvil": anvil.pid}
        first = ledger.chain.block_number() + 1
        single = run_load(requests[: args.single], 1, pids)
        single["transactions"] = _transactions(ledger, first)
        first = ledger.chain.block_number() + 1
        concurrent = run_load(requests[args.single :], args.clients, pids)
        concurrent["transactions"] = _transactions(ledger, first)
    finally:
        os.kill(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
    return {"workers": workers, "load_1min": os.getloadavg()[0], "runs": [single, concurrent]}


def _fresh_run(
    args: argparse.Namespace, workers: int, *, profile: bool
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """One worker count on its own anvil, enrolling as many patients as every other run
    (the baseline's too): a chain holding more enrolled patients costs anvil more per
    revocation, so sharing one anvil between the counts would favour the first."""
    measured = args.single + args.concurrent
    patients = [Account.create() for _ in range(measured + args.profiled)]
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        directory = Path(tmp)
        anvil = start_anvil(directory / "anvil")
        try:
            ledger = _setup(anvil.url, patients)
            manifest = directory / "deployment.json"
            save_manifest(ledger.manifest, manifest)
            run = _measure(directory, anvil, ledger, manifest, patients[:measured], args, workers)
            later = _requests(ledger, "", patients[measured:]) if profile else []
            profiled = (
                _profiled_run(directory, anvil.url, manifest, later, args.clients)
                if later
                else None
            )
        finally:
            stop_service(anvil)
    return run, profiled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--single", type=int, default=100)
    parser.add_argument("--concurrent", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument(
        "--baseline",
        type=Path,
        help="also measure this checkout of the code before (e.g. a worktree of 564ebba), "
        "right before this one, under the same machine load and on the same stack",
    )
    parser.add_argument(
        "--compare-stack",
        action="store_true",
        help="also measure this code with uvloop and httptools hidden (asyncio + h11)",
    )
    parser.add_argument("--profiled", type=int, default=300, help="revocations profiled")
    parser.add_argument(
        "--workers",
        default="1,2",
        help="comma-separated `consentfl api --workers` counts, each measured in turn",
    )
    args = parser.parse_args()
    worker_counts = [int(n) for n in args.workers.split(",")]
    baseline = (
        _other_run(args, args.baseline, hide_stack=False) if args.baseline is not None else None
    )
    here = Path(__file__).resolve().parents[1]
    plain = _other_run(args, here, hide_stack=True) if args.compare_stack else None
    by_workers: dict[str, dict[str, Any]] = {}
    profile = None
    for n, workers in enumerate(worker_counts):
        by_workers[str(workers)], profiled = _fresh_run(args, workers, profile=n == 0)
        profile = profile or profiled
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    previous.pop("before_issue_19_same_run", None)  # session 6's, against cand5's code
    result = {
        **previous,
        "what": "relayed revocations through POST .../revocation (receipt awaited), anvil "
        "automine; the relayer batches waiting revocations (revokeBatchWithSig)",
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "before_issue_19": BEFORE,
        "stack": _stack(),
        "same_run": {"before": baseline, "this_code_on_asyncio_h11": plain},
        "machine_load_1min": os.getloadavg()[0],
        "runs": by_workers.get("1", by_workers[str(worker_counts[0])])["runs"],
        "by_workers": by_workers,
        "profile_20_clients": profile,
    }
    single = result["runs"][0]  # the 1-client target: `consentfl api` as it was (one process)
    best = max(by_workers.values(), key=lambda w: w["runs"][1]["revocations_per_second"])
    result["targets"] = _targets(single, best["runs"][1], baseline, best["workers"])
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
