"""Enrolment at scale on anvil: batched first consents under one Merkle root (issue 19, item 3)
against the per-patient path.

Starts anvil (node_modules, temp dir, stopped by pid), deploys, and enrols `--patients` patients
twice, each time fresh patients: through `grantFirstBatchWithSig` in batches of
`MAX_FIRST_GRANT_BATCH` (`grant_first_batch`: one root stored per batch, the per-patient record
written lazily) and through `grantBatchWithSig` in batches of `MAX_GRANT_BATCH` (`grant_batch`,
two fresh slots per patient), with every patient's EIP-712 signature made before the clock starts
(patients sign on their own devices). Also measures what a batch-enrolled patient's revocation
costs (materialise the record from the batch proof, then revoke). Measures gas per patient (from
the receipts' `gasUsed`) and the wall time per patient, and extrapolates both to 1,000,000
patients (a full run would take hours on this machine: the extrapolation is linear, each batch
costs the same, and says so in `why`). `--patients` is 5000 by default: a reduced size.

Run: .venv/bin/python bench/bench_enrolment.py [--patients 5000] [--baseline-patients 1500]
Writes bench/results/enrolment.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from eth_account import Account

from chain.connection import Chain
from chain.consent_batches import MAX_FIRST_GRANT_BATCH
from chain.consent_registry import MAX_GRANT_BATCH, SignedConsent
from chain.deploy import Ledger
from chain.dev_study import one_hospital_study
from chain.devnet import start_anvil, stop_service
from consent.eip712 import sign_consent, sign_revocation
from consent.ids import Address, Bytes32, parse_address, study_id

RESULTS = Path(__file__).with_name("results") / "enrolment.json"
STUDY = study_id("bench-enrolment")
TARGET_GAS = 15_000
MILLION = 1_000_000
BLOCK_GAS = 30_000_000


def _setup(rpc: str) -> tuple[Chain, Ledger, Address]:
    study = one_hospital_study(
        rpc, STUDY, metadata_cid="bafkreienrol", seal_key=Bytes32(b"\x05" * 32)
    )
    return study.chain, study.hospital, study.hospital_address


def _sign(domain: Any, hospital: Address, n: int) -> tuple[list[SignedConsent], list[bytes]]:
    signed, keys = [], []
    for _ in range(n):
        patient = Account.create()
        address = parse_address(patient.address)
        signature = sign_consent(patient.key, domain, STUDY, address, hospital, 0, 0, 2**40)
        signed.append(SignedConsent(address, 0, signature, 2**40))
        keys.append(bytes(patient.key))
    return signed, keys


def _gas(chain: Any, hashes: set[str]) -> int:
    return sum(int(chain.w3.eth.get_transaction_receipt(h)["gasUsed"]) for h in hashes)


def measure(rpc: str, n: int, *, lazy: bool) -> dict[str, Any]:
    """Enrol `n` fresh patients in batches; gas and wall time per patient."""
    chain, hospital, hospital_address = _setup(rpc)
    start = time.perf_counter()
    signed, keys = _sign(hospital.consents.domain, hospital_address, n)
    signing_s = time.perf_counter() - start
    start = time.perf_counter()
    if lazy:
        batches = hospital.consents.grant_first_batch(STUDY, signed)
        granted = [g for b in batches for g in b.granted]
    else:
        granted = hospital.consents.grant_batch(STUDY, signed)
    seconds = time.perf_counter() - start
    assert len(granted) == n
    hashes = {e.tx_hash for e in granted}
    run: dict[str, Any] = {
        "path": "grantFirstBatchWithSig" if lazy else "grantBatchWithSig",
        "patients": n,
        "batch": MAX_FIRST_GRANT_BATCH if lazy else MAX_GRANT_BATCH,
        "transactions": len(hashes),
        "seconds": round(seconds, 3),
        "patients_per_s": round(n / seconds, 1),
        "gas_per_patient": round(_gas(chain, hashes) / n),
        "signing_s_not_timed": round(signing_s, 3),
    }
    if lazy:
        run["revocation_of_a_batch_patient"] = _revoke_one(chain, hospital, signed[0], keys[0])
    return run


def _revoke_one(
    chain: Chain, hospital: Ledger, consent: SignedConsent, key: bytes
) -> dict[str, Any]:
    """Materialise one batch-enrolled patient's record from its proof, then revoke (gas)."""
    consents = hospital.consents
    start = time.perf_counter()
    member = consents.membership(STUDY, consent.patient)
    proof_s = time.perf_counter() - start
    assert member is not None
    assert consents.is_consented_in_batch(STUDY, consent.patient, member)
    block = chain.block_number()
    consents.materialize(STUDY, consent.patient, member)
    nonce = consents.revocation_nonce(STUDY, consent.patient)
    signature = sign_revocation(key, consents.domain, STUDY, consent.patient, nonce, 2**40)
    consents.revoke_with_sig(STUDY, consent.patient, 2**40, signature)  # relayed by anyone
    assert not consents.is_consented_in_batch(STUDY, consent.patient, member)
    gas = [
        int(r["gasUsed"])
        for b in range(block + 1, chain.block_number() + 1)
        for r in chain.w3.eth.get_block_receipts(b)
    ]
    return {
        "proof_from_logs_s": round(proof_s, 3),
        "proof_siblings": len(member.proof),
        "materialize_gas": gas[0],
        "revoke_with_sig_gas": gas[-1],
    }


def targets(lazy: dict[str, Any], baseline: dict[str, Any]) -> list[dict[str, Any]]:
    gas = lazy["gas_per_patient"]
    hours = MILLION / lazy["patients_per_s"] / 3600
    blocks = MILLION * gas / BLOCK_GAS
    old_hours = MILLION / baseline["patients_per_s"] / 3600
    revocation = lazy["revocation_of_a_batch_patient"]
    return [
        {
            "name": f"gas per enrolled patient, grantFirstBatchWithSig batches of "
            f"{lazy['batch']} (anvil)",
            "target": f"<= {TARGET_GAS}",
            "value": gas,
            "met": gas <= TARGET_GAS,
            "why": f"{'met' if gas <= TARGET_GAS else 'not met'}: one Merkle root (2 slots) "
            "per batch, no per-patient slot written; per patient (debug_traceCall, marginal): "
            "~3.1k ecrecover, 2.1k cold read of the grant nonce (must be 0), 1.4k "
            "FirstConsentGranted log, ~2k calldata (static EIP-2098 entries), ~0.3k keccak, the "
            "rest Solidity overhead; the per-patient record is written only when it is needed "
            f"(materialise {revocation['materialize_gas']:,} gas, then revoke "
            f"{revocation['revoke_with_sig_gas']:,} gas). Today's path in the same run: "
            f"{baseline['gas_per_patient']:,} gas per patient",
        },
        {
            "name": "wall time to enrol 1,000,000 patients on anvil (extrapolated)",
            "target": "measured (no target in the issue)",
            "value": f"{hours:.2f} h",
            "met": True,
            "why": f"linear extrapolation from {lazy['patients']} patients "
            f"({lazy['patients_per_s']}/s, batches of {lazy['batch']}; today's path "
            f"{baseline['patients_per_s']}/s = {old_hours:.2f} h); a full run does not fit the "
            f"session; 1M patients at this gas fill {blocks:,.0f} blocks of 30M gas "
            f"(today's path {MILLION * baseline['gas_per_patient'] / BLOCK_GAS:,.0f})",
        },
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=5000)
    parser.add_argument("--baseline-patients", type=int, default=1500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-enrol-") as tmp:
        anvil = start_anvil(Path(tmp) / "anvil")
        try:
            lazy = measure(anvil.url, args.patients, lazy=True)
            baseline = measure(anvil.url, args.baseline_patients, lazy=False)
        finally:
            stop_service(anvil)
    result = {
        "what": "enrolment on anvil (automine): batched first consents under one Merkle root "
        "(grantFirstBatchWithSig) against today's per-patient path (grantBatchWithSig)",
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "machine_load_1min": os.getloadavg()[0],
        "run": lazy,
        "baseline": baseline,
        "targets": targets(lazy, baseline),
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
