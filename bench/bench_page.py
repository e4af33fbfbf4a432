"""The patient page in a real browser on anvil: page load to interactive, keystore unlock, and
click to confirmed revocation (issue 17).

Starts anvil (node_modules, temp dir) and `consentfl api` (uvicorn, free 127.0.0.1 port), deploys,
enrols patients, writes each a V3 keystore, and drives Debian's chromium through Playwright:

* load to interactive: navigation start to the page's `interactive` mark (ethers loaded, handlers
  attached, the Open button enabled), from the browser's own Performance API;
* unlock: submit to the consent shown (scrypt in the browser + two API reads), at scrypt n=2^10
  and at eth-account's default n=2^18 (what `patients export-key` writes);
* click to confirmed revocation: the click on Revoke to the page showing the revoked status, i.e.
  typed data fetched, signed in the browser, relayed, mined (anvil automine), receipt returned
  and the status re-read.

Run: .venv/bin/python bench/bench_page.py [--revocations 8 --loads 10]
Writes bench/results/page.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account
from eth_account.signers.local import LocalAccount
from playwright.sync_api import Browser, Page, sync_playwright

from chain.consent_registry import SignedConsent
from chain.deploy import Ledger
from chain.dev_study import dev_account, one_hospital_study
from chain.devnet import free_port, start_anvil, stop_service
from chain.manifest import save_manifest
from consent.eip712 import sign_consent
from consent.ids import Bytes32, parse_address, study_id
from consent.keys import PatientKey, save_hex_key, save_keystore

RESULTS = Path(__file__).with_name("results") / "page.json"
STUDY_NAME = "bench-page"
STUDY = study_id(STUDY_NAME)
PASSWORD = "bench patient password"
CHROMIUM = "/usr/bin/chromium"
TARGETS_MS = {"load_to_interactive": 1000.0, "click_to_confirmed_revocation": 2000.0}
UNLOCK_DEFAULT_TARGET_MS = 15_000.0


_FAR = 2**40
"""Signature deadline of the bench's grants: never reached."""


def _setup(rpc: str, patients: list[LocalAccount]) -> Ledger:
    study = one_hospital_study(
        rpc, STUDY, metadata_cid="bafkreibench", seal_key=Bytes32(b"\x03" * 32)
    )
    ledger, hospital, hospital_address = study.coordinator, study.hospital, study.hospital_address
    domain = hospital.consents.domain
    signed = []
    for p in patients:
        address = parse_address(p.address)
        signature = sign_consent(p.key, domain, STUDY, address, hospital_address, 0, 0, _FAR)
        signed.append(SignedConsent(address, 0, signature, _FAR))
    hospital.consents.grant_batch(STUDY, signed)
    return ledger


def _serve(directory: Path, rpc: str, manifest: Path) -> tuple[subprocess.Popen[bytes], str]:
    key = directory / "relayer.key"
    save_hex_key(PatientKey.from_private_key(bytes(dev_account(9).key)), key)
    port = free_port()
    command = [
        str(Path(sys.executable).parent / "consentfl"), "api", "--deployment", str(manifest),
        "--relayer-key", str(key), "--rpc", rpc, "--port", str(port), "--log-level", "warning",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/patient/", timeout=2).is_success:
                return process, url
        except httpx.TransportError:
            time.sleep(0.2)
    os.kill(process.pid, signal.SIGTERM)
    process.wait(timeout=15)
    raise RuntimeError("consentfl api did not start")


def _load(browser: Browser, url: str) -> tuple[Page, float]:
    page = browser.new_page()
    page.goto(f"{url}/patient/?study={STUDY_NAME}")
    page.wait_for_selector("body[data-ready=true]", timeout=60_000)
    interactive: float = page.evaluate("performance.getEntriesByName('interactive')[0].startTime")
    return page, interactive


def _unlock(page: Page, keystore: Path) -> float:
    page.set_input_files("#keyfile", str(keystore))
    page.fill("#password", PASSWORD)
    start = time.perf_counter()
    page.click("#open")
    page.wait_for_selector("#status[data-state=consented]", timeout=120_000)
    return 1000 * (time.perf_counter() - start)


def _revoke(page: Page) -> float:
    start = time.perf_counter()
    page.click("#revoke")
    page.wait_for_selector("#status[data-state=revoked]", timeout=60_000)
    return 1000 * (time.perf_counter() - start)


def _stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "median_ms": round(statistics.median(ordered), 1),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 1),
        "max_ms": round(ordered[-1], 1),
    }


def _measure(url: str, keys: list[Path], default_key: Path, loads: int) -> dict[str, Any]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            load_ms = []
            for _ in range(loads):
                page, interactive = _load(browser, url)
                load_ms.append(interactive)
                page.close()
            unlock_ms, revoke_ms = [], []
            for keystore in keys:
                page, _ = _load(browser, url)
                unlock_ms.append(_unlock(page, keystore))
                revoke_ms.append(_revoke(page))
                page.close()
            page, _ = _load(browser, url)
            unlock_default = _unlock(page, default_key)
            page.close()
        finally:
            browser.close()
    return {
        "load_to_interactive": _stats(load_ms),
        "unlock_scrypt_2^10": _stats(unlock_ms),
        "unlock_scrypt_2^18_default_ms": round(unlock_default, 1),
        "click_to_confirmed_revocation": _stats(revoke_ms),
    }


def _targets(runs: dict[str, Any]) -> list[dict[str, Any]]:
    targets = []
    for name, limit in TARGETS_MS.items():
        value = runs[name]["p95_ms"]
        targets.append({
            "name": f"{name.replace('_', ' ')} (p95, chromium, anvil)",
            "target": f"<= {limit:.0f} ms", "value": f"{value} ms", "met": value <= limit,
            "why": "met" if value <= limit else "see README: measured on 2 cores shared with CI",
        })  # fmt: skip
    value = runs["unlock_scrypt_2^18_default_ms"]
    targets.append({
        "name": "unlock a default-cost keystore (scrypt n=2^18) in the browser",
        "target": f"<= {UNLOCK_DEFAULT_TARGET_MS:.0f} ms", "value": f"{value} ms",
        "met": value <= UNLOCK_DEFAULT_TARGET_MS,
        "why": "met: the page shows progress meanwhile" if value <= UNLOCK_DEFAULT_TARGET_MS
        else "scrypt at 256 MiB in JavaScript on this CPU; the page shows progress",
    })  # fmt: skip
    return targets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--revocations", type=int, default=8)
    parser.add_argument("--loads", type=int, default=10)
    args = parser.parse_args()
    patients = [Account.create() for _ in range(args.revocations + 1)]
    with tempfile.TemporaryDirectory(prefix="bench-page-") as tmp:
        directory = Path(tmp)
        anvil = start_anvil(directory / "anvil")
        process = None
        try:
            ledger = _setup(anvil.url, patients)
            manifest = directory / "deployment.json"
            save_manifest(ledger.manifest, manifest)
            keys = []
            for i, patient in enumerate(patients):
                path = directory / f"patient-{i}.json"
                n = None if i == len(patients) - 1 else 2**10
                save_keystore(PatientKey.from_private_key(bytes(patient.key)), path, PASSWORD,
                              iterations=n)  # fmt: skip
                keys.append(path)
            process, url = _serve(directory, anvil.url, manifest)
            runs = _measure(url, keys[:-1], keys[-1], args.loads)
        finally:
            if process is not None:
                os.kill(process.pid, signal.SIGTERM)
                process.wait(timeout=15)
            stop_service(anvil)
    result = {
        "what": "patient page (chromium via Playwright) over consentfl api and anvil automine",
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "load_average_1m": round(os.getloadavg()[0], 2)},
        "runs": runs,
        "targets": _targets(runs),
    }  # fmt: skip
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
