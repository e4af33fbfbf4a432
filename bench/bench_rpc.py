"""JSON-RPC cost of one view call, one transaction and one bare request (issue 19, s7-rpc).

On each chain (eth-tester in this process, anvil from node_modules on a free 127.0.0.1 port,
stopped by pid) the ledger is deployed and a study created; then, with every request that
reaches the provider counted by method:
- views: `round_count`, `get_study`, `hospitals`, `active_consent_count` (facade calls, i.e. the
  path the roles use), `--views` times each;
- transactions from an unlocked account: `add_hospital` + `remove_hospital`, `--txs` pairs,
  each waited for and its event decoded;
- transactions from a locally signing, nonce-counting sender (the relayer's kind, s8-tx):
  `cancel_pending`, `--txs` times; then a mined one's receipt wait + decode, and the ms per
  event decoded from its logs;
- bare requests: `eth_blockNumber` through the provider (`--requests` times; anvil only).
Reported per call: mean milliseconds and requests by method.

Before/after in the same run, alternated (`--pairs` runs of each, each in its own process, the
medians reported: load bursts of a shared machine hit both sides alike):
    .venv/bin/python bench/bench_rpc.py --old /tmp/old --pairs 3
or once each: run on the old code with PYTHONPATH pointing at its tree and `--out` elsewhere,
then on this tree with `--before` that file:
    PYTHONPATH=/tmp/old .venv/bin/python bench/bench_rpc.py --out /tmp/rpc_before.json
    .venv/bin/python bench/bench_rpc.py --before /tmp/rpc_before.json
Writes bench/results/rpc.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_utils import keccak
from web3 import Web3

from chain.connection import Chain, connect
from chain.deploy import Ledger
from chain.dev_study import unlocked_study
from chain.devnet import start_anvil, stop_service
from chain.transactions import Sender
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
    out.update(measure_signed(chain, ledger, study, seen, args.txs))
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


def measure_signed(
    chain: Chain, ledger: Ledger, study: StudyId, seen: Counter[str], txs: int
) -> dict[str, Any]:
    """A locally signing, nonce-counting sender (the relayer's kind): ms and requests per
    `cancel_pending` (sign, send, receipt, one event decoded); then, on its mined
    transactions, ms per receipt wait + decode and per event decoded."""
    key = keccak(text="consentfl bench-rpc signer")
    address = Account.from_key(key).address
    chain.w3.eth.send_transaction(
        {"from": chain.w3.eth.accounts[0], "to": address, "value": 10**18, "gas": 21_000}
    )
    consents = ledger.with_sender(Sender.from_key(chain, key, manage_nonces=True)).consents
    consents.cancel_pending(study)  # the first reads the nonce and base fee
    out = {"signed_transaction": per_call(seen, txs, lambda: consents.cancel_pending(study))}
    pending = [consents._send(60_000, "cancelPendingConsents", bytes(study)) for _ in range(txs)]
    receipts = [consents._wait(p) for p in pending]
    mined = itertools.cycle(pending)
    out["receipt_and_decode"] = per_call(
        seen, txs, lambda: consents.receipt_events(consents._wait(next(mined)))
    )
    logs = [log for r in receipts for log in r["logs"]]
    rounds = 20
    start = time.perf_counter()
    for _ in range(rounds):
        decoded = consents._events.decode_all(logs)
    assert len(decoded) == len(logs)
    out["event_decode_ms"] = round(1000 * (time.perf_counter() - start) / rounds / len(logs), 4)
    return out


def _has(module: str) -> bool:
    """Whether the `chain` package measured (PYTHONPATH's, for the old code) has `module`:
    looked up as a file, since the editable install's finder would also find this tree's."""
    import chain

    return (Path(chain.__file__).parent / f"{module}.py").is_file()


def signing_compared(count: int = 300) -> dict[str, float]:
    """ms per EIP-1559 transaction signed by eth_account's `sign_transaction` and by
    `chain.tx_wire.sign_dynamic_fee` (same bytes; absent before s8-tx), interleaved."""
    key = keccak(text="consentfl bench-rpc signing")
    account = Account.from_key(key)
    to, data = bytes(range(20)), bytes(range(4)) + bytes(64)
    tx: dict[str, Any] = {"chainId": 31337, "nonce": 7, "maxPriorityFeePerGas": 10**9}
    tx.update({"maxFeePerGas": 3 * 10**9, "gas": 300_000, "value": 0})
    web3_tx = {**tx, "to": Web3.to_checksum_address(to), "data": data, "type": 2}
    signers: dict[str, Callable[[], object]] = {
        "eth_account": lambda: account.sign_transaction(web3_tx)
    }
    if _has("tx_wire"):
        from coincurve import PrivateKey

        from chain.tx_wire import sign_dynamic_fee

        private = PrivateKey(key)
        signers["tx_wire"] = lambda: sign_dynamic_fee(private, {**tx, "to": to, "data": data})
    spent = dict.fromkeys(signers, 0.0)
    for _ in range(10):
        for name, sign in signers.items():
            start = time.perf_counter()
            for _ in range(count // 10):
                sign()
            spent[name] += time.perf_counter() - start
    return {name: round(1000 * total / count, 4) for name, total in spent.items()}


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


def _targets(
    after: dict[str, Any], before: dict[str, Any] | None, lean_before: bool
) -> list[dict[str, Any]]:
    """The targets of this run; the view path's against web3's only when the old code had
    web3's view path (`lean_before` False)."""
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
        signed = figures["signed_transaction"]["requests"]
        targets.append(
            {
                "name": f"{chain}_requests_per_signed_transaction",
                "target": 3,
                "value": signed,
                "met": signed <= 3,
                "why": "send + receipt poll(s); nonce counted locally, base fee read at most "
                "once a second",
            }
        )
        if before is not None and chain in before and chain != "eth-tester":
            targets.extend(_vs_before(chain, figures, before[chain]))
        if before is not None and chain in before and chain != "eth-tester" and not lean_before:
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


def _ms(figures: dict[str, Any], name: str) -> float | None:
    value = figures.get(name)
    return value.get("ms") if isinstance(value, dict) else value


def _vs_before(chain: str, after: dict[str, Any], before: dict[str, Any]) -> list[dict[str, Any]]:
    """Session 8's transaction figures against the old code's in the same run."""
    targets = []
    for name, what in (
        ("signed_transaction", "locally signed transaction (sign, send, receipt, decode)"),
        ("transaction", "unlocked transaction (send, receipt, decode)"),
        ("receipt_and_decode", "receipt wait + event decode of a mined transaction"),
        ("event_decode_ms", "event decoded from a log"),
    ):
        old, new = _ms(before, name), _ms(after, name)
        if old is None or new is None:
            continue
        short = name.removesuffix("_ms")
        targets.append(
            {
                "name": f"{chain}_{short}_ms_vs_before",
                "target": f"< {old}",
                "value": new,
                "met": new < old,
                "why": f"ms per {what}: lean JSON-RPC path vs web3's ({old} ms before, same run)",
            }
        )
    return targets


def _carried(target: dict[str, Any]) -> dict[str, Any]:
    note = " [carried from the run that had web3's view path: the old code here has the lean one]"
    return {**target, "why": target["why"].split(" [carried")[0] + note}


def _median(reports: list[Any]) -> Any:
    """The element-wise median of equally shaped reports (numbers; the first's other values)."""
    first = reports[0]
    if isinstance(first, dict):
        return {k: _median([r[k] for r in reports if k in r]) for k in first}
    if isinstance(first, bool) or not isinstance(first, int | float):
        return first
    return round(statistics.median(reports), 4)


def _pairs(args: argparse.Namespace) -> None:
    """`--pairs` runs of the old code (PYTHONPATH=`--old`) and this tree, alternated, each in
    its own process; the report holds the medians of each side (load bursts of a shared
    machine hit both sides alike)."""
    passed = ["--chains", *args.chains, "--views", str(args.views), "--txs", str(args.txs)]
    passed += ["--requests", str(args.requests)]
    scratch = Path(tempfile.mkdtemp(prefix="bench-rpc-pairs-"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    sides: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    for pair in range(args.pairs):
        for side, extra in (("before", {"PYTHONPATH": str(args.old)}), ("after", {})):
            out = scratch / f"{side}-{pair}.json"
            command = [sys.executable, __file__, *passed, "--out", str(out)]
            subprocess.run(command, env={**env, **extra}, check=True, stdout=subprocess.DEVNULL)
            sides[side].append(json.loads(out.read_text()))
    old = _median(sides["before"])
    old["machine_load_1min"] = [r["machine_load_1min"] for r in sides["before"]]
    after = _median(sides["after"])
    loads = [r["machine_load_1min"] for r in sides["after"]]
    _write(args, after["chains"], after["signing_ms"], old, loads)


def _write(
    args: argparse.Namespace,
    figures: dict[str, Any],
    signing: dict[str, float],
    old: dict[str, Any] | None,
    load: Any,
) -> None:
    before = None if old is None else old["chains"]
    lean_before = old is not None and old.get("code", {}).get("lean_views", False)
    targets = _targets(figures, before, lean_before)
    if "tx_wire" in signing:
        targets.append(
            {
                "name": "signing_ms_tx_wire_vs_eth_account",
                "target": f"< {signing['eth_account']} (eth_account, interleaved)",
                "value": signing["tx_wire"],
                "met": signing["tx_wire"] < signing["eth_account"],
                "why": "a type-2 transaction signed with rlp + coincurve (same bytes and hash as "
                "eth_account's, tests/unit/chain/test_tx_wire.py)",
            }
        )
    if lean_before and args.out.is_file():  # keep the last same-run view comparison with web3
        kept = json.loads(args.out.read_text()).get("targets", [])
        targets.extend(_carried(t) for t in kept if t["name"].endswith("_view_ms_vs_before"))
    report: dict[str, Any] = {
        "config": {"views": args.views, "txs": args.txs, "requests": args.requests},
        "pairs": args.pairs if args.old else None,
        "machine": {"python": platform.python_version()},
        "machine_load_1min": load,
        "chains": figures,
        "signing_ms": signing,
        "code": {"lean_views": _has("abi_codec"), "lean_transactions": _has("tx_wire")},
        "targets": targets,
    }
    if old is not None:
        report["before"] = old
    if args.out.is_file():  # bench_api's figures for the relayer, added by hand (s8-tx)
        previous = json.loads(args.out.read_text())
        if "relayer_effect" in previous:
            report["relayer_effect"] = previous["relayer_effect"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(
        json.dumps(
            {c: {k: v for k, v in f.items() if k != "views"} for c, f in figures.items()}, indent=1
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", nargs="+", default=["eth-tester", "anvil"])
    parser.add_argument("--views", type=int, default=50)
    parser.add_argument("--txs", type=int, default=10)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--before", type=Path, help="this bench's output on the old code")
    parser.add_argument("--old", type=Path, help="the old code's tree: alternate runs with it")
    parser.add_argument("--pairs", type=int, default=3, help="old/new run pairs with --old")
    args = parser.parse_args()
    if args.old is not None:
        _pairs(args)
        return
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
    old = json.loads(args.before.read_text()) if args.before else None
    _write(args, figures, signing_compared(), old, round(os.getloadavg()[0], 2))


if __name__ == "__main__":
    main()
