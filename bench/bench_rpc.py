"""JSON-RPC cost of one view call, one transaction and one bare request (issue 19, s7-rpc).

On each chain (eth-tester in this process, anvil from node_modules on a free 127.0.0.1 port,
stopped by pid) the ledger is deployed and a study created; then, with every request that
reaches the provider counted by method:
- views: `round_count`, `get_study`, `hospitals`, `active_consent_count` (facade calls, i.e. the
  path the roles use), `--views` times each;
- transactions from an unlocked account: `add_hospital` + `remove_hospital`, `--txs` pairs,
  each waited for and its event decoded;
- bare requests: `eth_blockNumber` through the provider (`--requests` times; anvil only).
Reported per call: mean milliseconds and requests by method.

Before/after in the same run: run once on the old code with PYTHONPATH pointing at its tree
and `--out` elsewhere, then on this tree with `--before` that file:
    PYTHONPATH=/tmp/old .venv/bin/python bench/bench_rpc.py --out /tmp/rpc_before.json
    .venv/bin/python bench/bench_rpc.py --before /tmp/rpc_before.json
Writes bench/results/rpc.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chain.connection import Chain, connect
from chain.deploy import Ledger
from chain.dev_study import unlocked_study
from chain.devnet import start_anvil, stop_service
from consent.ids import StudyId, parse_address, study_id

RESULTS = Path(__file__).with_name("results") / "rpc.json"


def count_requests(chain: Chain) -> Counter[str]:
    """Count every request the connection hands its provider, by method."""
    seen: Counter[str] = Counter()
    provider = chain.w3.provider
    inner = provider.make_request

    def counted(method: Any, params: Any) -> Any:
        seen[str(method)] += 1
        return inner(method, params)

    provider.make_request = counted  # type: ignore[method-assign]
    provider._request_func_cache = (None, None)  # type: ignore[assignment]  # rebuilt with `counted`
    chain.w3.eth.chain_id  # noqa: B018 - the rebuilt middleware caches it again
    seen.clear()
    return seen


def per_call(seen: Counter[str], calls: int, fn: Callable[[], object]) -> dict[str, Any]:
    """Mean ms and requests by method per call of `fn` over `calls` calls."""
    seen.clear()
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    elapsed = time.perf_counter() - start
    return {
        "ms": round(1000 * elapsed / calls, 3),
        "requests": round(sum(seen.values()) / calls, 2),
        "by_method": {m: round(n / calls, 2) for m, n in sorted(seen.items())},
    }


def _world(chain: Chain) -> tuple[Ledger, StudyId, list[str]]:
    study = study_id("bench-rpc")
    world = unlocked_study(chain, study)
    return world.coordinator, study, list(world.accounts)


def measure(chain: Chain, args: argparse.Namespace) -> dict[str, Any]:
    ledger, study, accounts = _world(chain)
    seen = count_requests(chain)
    hospital, extra = parse_address(accounts[2]), parse_address(accounts[3])
    views = {
        "round_count": lambda: ledger.rounds.round_count(study),
        "get_study": lambda: ledger.studies.get_study(study),
        "hospitals": lambda: ledger.studies.hospitals(study),
        "active_consent_count": lambda: ledger.consents.active_consent_count(study, hospital),
    }
    out: dict[str, Any] = {"views": {n: per_call(seen, args.views, f) for n, f in views.items()}}

    def pair() -> None:
        ledger.studies.add_hospital(study, extra)
        ledger.studies.remove_hospital(study, extra)

    tx = per_call(seen, args.txs, pair)
    out["transaction"] = {
        "ms": round(tx["ms"] / 2, 3),
        "requests": round(tx["requests"] / 2, 2),
        "by_method": {m: round(n / 2, 2) for m, n in tx["by_method"].items()},
    }
    view_ms = [v["ms"] for v in out["views"].values()]
    out["view_mean_ms"] = round(sum(view_ms) / len(view_ms), 3)
    out["view_mean_requests"] = round(
        sum(v["requests"] for v in out["views"].values()) / len(views), 2
    )
    if not chain.ephemeral:
        provider = chain.w3.provider
        out["bare_request_ms"] = per_call(
            seen,
            args.requests,
            lambda: provider.make_request("eth_blockNumber", []),  # type: ignore[arg-type]
        )["ms"]
        out["bare_request_ms_interleaved"] = sessions_compared(chain.rpc, args.requests)
    return out


def sessions_compared(url: str, requests: int, blocks: int = 10) -> dict[str, float]:
    """ms per bare request through web3's default HTTPProvider session (`trust_env`: the
    environment read per request) and through `chain.connection.http_session` (read once),
    alternated in `blocks` blocks in this process so that machine load hits both alike."""
    from web3 import HTTPProvider

    from chain import connection

    providers = {"web3_default_session": HTTPProvider(url)}
    if hasattr(connection, "http_session"):  # absent on the code before s7-rpc
        providers["resolved_session"] = HTTPProvider(url, session=connection.http_session(url))
    spent = dict.fromkeys(providers, 0.0)
    for _ in range(blocks):
        for name, provider in providers.items():
            start = time.perf_counter()
            for _ in range(requests // blocks):
                provider.make_request("eth_blockNumber", [])  # type: ignore[arg-type]
            spent[name] += time.perf_counter() - start
    return {name: round(1000 * total / requests, 3) for name, total in spent.items()}


def _targets(after: dict[str, Any], before: dict[str, Any] | None) -> list[dict[str, Any]]:
    targets: list[dict[str, Any]] = []
    for chain, figures in after.items():
        view, tx = figures["view_mean_requests"], figures["transaction"]["requests"]
        targets.append(
            {
                "name": f"{chain}_requests_per_view",
                "target": 1,
                "value": view,
                "met": view <= 1,
                "why": "one eth_call per view (no chain id, no account look-up)",
            }
        )
        targets.append(
            {
                "name": f"{chain}_requests_per_unlocked_transaction",
                "target": 3,
                "value": tx,
                "met": tx <= 3,
                "why": "send + receipt poll(s) + at most one base-fee read a second; no fee "
                "estimate, no block read per event without a timestamp",
            }
        )
        if before is not None and chain in before and chain != "eth-tester":
            old = before[chain]["view_mean_ms"]
            new = figures["view_mean_ms"]
            targets.append(
                {
                    "name": f"{chain}_view_ms_vs_before",
                    "target": round(old / 2, 3),
                    "value": new,
                    "met": new <= old / 2,
                    "why": f"lean view path at most half of web3's ({old} ms before, same run)",
                }
            )
        sessions = figures.get("bare_request_ms_interleaved", {})
        if "resolved_session" in sessions:
            default, resolved = sessions["web3_default_session"], sessions["resolved_session"]
            targets.append(
                {
                    "name": f"{chain}_bare_request_ms_resolved_session",
                    "target": f"< {default} (web3's default session, interleaved)",
                    "value": resolved,
                    "met": resolved < default,
                    "why": "proxies / CA bundle / netrc resolved once at connect, not per request",
                }
            )
    return targets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", nargs="+", default=["eth-tester", "anvil"])
    parser.add_argument("--views", type=int, default=50)
    parser.add_argument("--txs", type=int, default=10)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--before", type=Path, help="this bench's output on the old code")
    args = parser.parse_args()
    figures: dict[str, Any] = {}
    for name in args.chains:
        if name == "anvil":
            service = start_anvil(Path(tempfile.mkdtemp(prefix="bench-rpc-")))
            try:
                figures[name] = measure(connect(service.url), args)
            finally:
                stop_service(service)
        else:
            figures[name] = measure(connect(name), args)
    before = json.loads(args.before.read_text())["chains"] if args.before else None
    report: dict[str, Any] = {
        "config": {"views": args.views, "txs": args.txs, "requests": args.requests},
        "machine": {"python": platform.python_version()},
        "machine_load_1min": round(os.getloadavg()[0], 2),
        "chains": figures,
        "targets": _targets(figures, before),
    }
    if before is not None:
        report["before"] = json.loads(args.before.read_text())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(
        json.dumps(
            {c: {k: v for k, v in f.items() if k != "views"} for c, f in figures.items()}, indent=1
        )
    )


if __name__ == "__main__":
    main()
