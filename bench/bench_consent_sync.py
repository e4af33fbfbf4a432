"""Consent at scale on a real node (issue 7, item 3): incremental sync of 10,000 revocations.

On anvil (started from node_modules in a temp dir, stopped by pid afterwards): a hospital enrols
10,000 patients (signed grants, batched), then the 10,000 patients revoke through relayed EIP-712
revocations (one transaction each, sent to the pool and mined in full blocks of ~600: anvil
mining one block per transaction spends minutes on state roots, and the benchmark measures the
sync, not the relaying). A hospital's
`chain.consent_view.ChainConsentView` (bounded `eth_getLogs` ranges into a `ConsentIndex` on disk)
syncs incrementally after every 1,000 revocations, like a trainer syncing before each round.

For comparison over the same 10,000 patients, after the last sync:
- the local index's consent mask (`ChainConsentView.consented_mask`), and
- the contract's batch view (`consentStatusBatch`, hand-built calldata through `eth_call`).
A cold full sync (a fresh index reading all 20,000 events) is timed too.

The 1,000,000-patient mask is measured by bench_consent.py (synthetic events, no node).

Run: .venv/bin/python bench/bench_consent_sync.py [--patients 10000 --sync-every 1000]
Writes bench/results/consent_sync.json.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import platform
import pstats
import tempfile
import time
from pathlib import Path
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_utils.abi import function_signature_to_4byte_selector
from eth_utils.crypto import keccak

from chain.connection import Chain, connect
from chain.consent_registry import SignedConsent
from chain.consent_view import ChainConsentView
from chain.deploy import Ledger, attach, deploy
from chain.devnet import ANVIL_DEV_KEY, start_anvil, stop_service
from chain.transactions import Sender
from consent.eip712 import sign_consent, sign_revocation
from consent.ids import Address, Bytes32, parse_address, study_id
from consent.index import ConsentIndex

RESULTS = Path(__file__).with_name("results") / "consent_sync.json"
STUDY = study_id("bench-consent-sync")
HOSPITAL_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"  # anvil #1
RELAYER_KEY = keccak(text="bench consent-sync relayer")  # funded with anvil_setBalance
FAR = 2**40
REVOKE_SELECTOR = function_signature_to_4byte_selector(
    "revokeWithSig(bytes32,address,uint64,bytes)"
)
GAS_REVOKE = 120_000
PRIORITY_FEE = 10**9


def setup(chain: Chain) -> tuple[Ledger, Ledger]:
    coordinator = Sender.from_key(chain, ANVIL_DEV_KEY)
    ledger = attach(chain, deploy(chain, coordinator), coordinator)
    hospital = Sender.from_key(chain, HOSPITAL_KEY)
    ledger.studies.create_study(
        STUDY, aggregator=coordinator.address, aggregator_seal_key=Bytes32(bytes(32)),
        min_updates=1, metadata_cid="",
    )  # fmt: skip
    ledger.studies.add_hospital(STUDY, hospital.address)
    return ledger, ledger.with_sender(hospital)


def _pending(chain: Chain) -> int:
    status = chain.w3.provider.make_request("txpool_status", [])  # type: ignore[arg-type]
    pending = status["result"]["pending"]
    return int(pending, 16) if isinstance(pending, str) else int(pending)


def send_revocations(chain: Chain, ledger: Ledger, patients: list[Any]) -> float:
    """Relay one signed revocation per patient, pipelined; returns seconds until all mined."""
    relayer = Account.from_key(RELAYER_KEY)
    w3 = chain.w3
    w3.provider.make_request("anvil_setBalance", [relayer.address, hex(10**24)])  # type: ignore[arg-type]
    domain = ledger.consents.domain
    nonce = w3.eth.get_transaction_count(relayer.address, "pending")
    base_fee = int(w3.eth.get_block("latest").get("baseFeePerGas", 0))
    raw: list[bytes] = []
    for offset, patient in enumerate(patients):
        address = parse_address(patient.address)
        signature = sign_revocation(patient.key, domain, STUDY, address, 0, FAR)
        data = REVOKE_SELECTOR + abi_encode(
            ["bytes32", "address", "uint64", "bytes"], [bytes(STUDY), address, FAR, signature]
        )
        tx: dict[str, Any] = {
            "type": 2, "chainId": chain.chain_id, "nonce": nonce + offset,
            "to": w3.to_checksum_address(ledger.consents.address), "data": data, "value": 0,
            "gas": GAS_REVOKE, "maxFeePerGas": 4 * base_fee + PRIORITY_FEE,
            "maxPriorityFeePerGas": PRIORITY_FEE,
        }  # fmt: skip
        raw.append(bytes(relayer.sign_transaction(tx).raw_transaction))
    start = time.perf_counter()
    w3.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
    try:
        hashes = [w3.eth.send_raw_transaction(r) for r in raw]
        while _pending(chain):
            w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    finally:
        w3.provider.make_request("evm_setAutomine", [True])  # type: ignore[arg-type]
    receipts = [w3.eth.get_transaction_receipt(h) for h in hashes[-1:]]
    elapsed = time.perf_counter() - start
    failed = [r for r in receipts if r["status"] != 1]
    if failed:
        raise SystemExit(f"{len(failed)} revocation(s) reverted")
    return elapsed


def top_functions(profiler: cProfile.Profile, count: int = 15) -> list[str]:
    """The functions with the most cumulative time in a profiled run (cProfile slows it down:
    the profiled run is not one of the timed ones)."""
    rows = []
    for (file, line, name), (_cc, calls, _tt, cum, _callers) in pstats.Stats(
        profiler
    ).stats.items():  # type: ignore[attr-defined]
        rows.append((cum, calls, f"{Path(file).parent.name}/{Path(file).name}:{line}({name})"))
    rows.sort(reverse=True)
    return [f"{cum:8.3f} s {calls:7d} calls  {where}" for cum, calls, where in rows[:count]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--sync-every", type=int, default=1_000)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    out: dict[str, Any] = {
        "machine": {"python": platform.python_version()},
        "node": "anvil",
        "patients": args.patients,
    }
    with tempfile.TemporaryDirectory(prefix="bench-consent-sync-") as tmp:
        service = start_anvil(Path(tmp))
        try:
            chain = connect(service.url)
            ledger, hospital = setup(chain)
            patients = [Account.from_key(keccak(text=f"sync {i}")) for i in range(args.patients)]
            assert hospital.consents.sender is not None
            who = hospital.consents.sender.address
            domain = hospital.consents.domain
            signed = [
                SignedConsent(
                    parse_address(p.address), 0,
                    sign_consent(p.key, domain, STUDY, parse_address(p.address), who, 0, 0, FAR),
                    FAR,
                )
                for p in patients
            ]  # fmt: skip
            start = time.perf_counter()
            hospital.consents.grant_batch(STUDY, signed)
            out["grant_batches_s"] = round(time.perf_counter() - start, 3)

            index = ConsentIndex(Path(tmp) / "index.sqlite")
            view = ChainConsentView(
                hospital.consents, index, from_block=ledger.manifest.deploy_block
            )
            start = time.perf_counter()
            view.sync()
            out["initial_sync_of_grants_s"] = round(time.perf_counter() - start, 3)

            first_head = chain.block_number()
            syncs: list[dict[str, Any]] = []
            relay_s = 0.0
            for low in range(0, args.patients, args.sync_every):
                chunk = patients[low : low + args.sync_every]
                relay_s += send_revocations(chain, ledger, chunk)
                start = time.perf_counter()
                block = view.sync()
                syncs.append(
                    {
                        "revocations": len(chunk),
                        "head_block": block,
                        "seconds": round(time.perf_counter() - start, 4),
                    }
                )
                print(f"synced {low + len(chunk)} revocations: {syncs[-1]['seconds']} s")
            addresses: list[Address] = [parse_address(p.address) for p in patients]
            head = chain.block_number()
            start = time.perf_counter()
            mask = view.consented_mask(STUDY, addresses, head)
            mask_s = time.perf_counter() - start
            if mask.any():
                raise SystemExit("the index still counts a revoked patient as consented")
            start = time.perf_counter()
            statuses = ledger.consents.status_batch(STUDY, addresses, head)
            view_s = time.perf_counter() - start
            if any(statuses):
                raise SystemExit("the contract still counts a revoked patient as consented")

            cold = ConsentIndex(":memory:")
            cold_view = ChainConsentView(
                hospital.consents, cold, from_block=ledger.manifest.deploy_block
            )
            start = time.perf_counter()
            cold_view.sync()
            cold_s = time.perf_counter() - start
            cold.close()
            with ConsentIndex(":memory:") as again:  # the same cold sync again, profiled
                profiled = ChainConsentView(
                    hospital.consents, again, from_block=ledger.manifest.deploy_block
                )
                profiler = cProfile.Profile()
                profiler.enable()
                profiled.sync()
                profiler.disable()
                out["profile_cold_sync_cumulative"] = top_functions(profiler)
            index.close()
        finally:
            stop_service(service)
    total_sync = sum(s["seconds"] for s in syncs)
    out["incremental_sync"] = {
        "revocation_events": args.patients,
        "syncs": len(syncs),
        "total_s": round(total_sync, 3),
        "events_per_s": round(args.patients / total_sync, 1),
        "max_single_sync_s": max(s["seconds"] for s in syncs),
        "blocks_covered": syncs[-1]["head_block"] - first_head,
        "per_sync": syncs,
    }
    out["relaying_pipelined_revocations_per_s"] = round(args.patients / relay_s, 1)
    out["cold_full_sync"] = {
        "events": 2 * args.patients,
        "seconds": round(cold_s, 3),
        "events_per_s": round(2 * args.patients / cold_s, 1),
    }
    out["same_patients_status"] = {
        "patients": args.patients,
        "index_mask_s": round(mask_s, 4),
        "contract_batch_view_s": round(view_s, 4),
        "contract_over_index": round(view_s / mask_s, 1),
    }
    print(json.dumps({k: v for k, v in out.items() if k != "incremental_sync"}, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
