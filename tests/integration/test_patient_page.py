"""The patient page in a real browser (Playwright driving Debian's chromium) against `consentfl
api` (uvicorn) over anvil; and the hospital's handover, receipts and FHIR records through the CLI
on the same study.

The hospital enrols through the CLI and hands each patient a V3 keystore; the patient opens it in
the page (decrypted in the browser), revokes with one key press, and sees the new status. Every
request the page makes goes to the API's own origin.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from eth_account import Account
from playwright.sync_api import Browser, Page, expect, sync_playwright
from typer.testing import CliRunner

from api.cli import app
from chain import devnet
from chain.connection import connect
from chain.deploy import attach
from chain.dev_study import dev_account
from chain.devnet import free_port
from chain.manifest import load_manifest
from consent.ids import parse_address, study_id
from consent.keys import load_keystore

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
STUDY = "page-study"
HOSPITAL_KEY = "0x" + bytes(dev_account(3).key).hex()
RELAYER_KEY = "0x" + bytes(dev_account(4).key).hex()
KEYRING_PASSWORD = "hospital keyring password"
PAGE_SCRYPT_N = 2**10
"""The handover keystores' scrypt cost here: eth-account's default (2^18) takes seconds per key in
a browser on 2 shared cores; the page's progress bar and the bench cover the default."""
runner = CliRunner()


@dataclass(frozen=True)
class Study:
    directory: Path
    rpc: str
    deployment: Path
    handover: Path
    keyring: Path
    passwords: dict[str, str]
    """patient address -> handover password"""


def _cli(*args: str, env: dict[str, str] | None = None) -> dict[str, object]:
    result = runner.invoke(app, [*args, "--json"], env=env)
    assert result.exit_code == 0, result.output
    payload: dict[str, object] = json.loads(result.stdout)
    return payload


@pytest.fixture(scope="module")
def study(anvil: str, tmp_path_factory: pytest.TempPathFactory) -> Study:
    directory = tmp_path_factory.mktemp("patient-page")
    deployer = directory / "deployer.key"
    deployer.write_text(devnet.ANVIL_DEV_KEY + "\n")
    hospital = directory / "hospital.key"
    hospital.write_text(HOSPITAL_KEY + "\n")
    deployment = directory / "deployment.json"
    common = ["--rpc", anvil, "--deployment", str(deployment)]
    _cli("chain", "deploy", "--rpc", anvil, "--out", str(deployment), "--key", str(deployer))
    _cli("study", "create", *common, "--key", str(deployer), "--study", STUDY,
         "--aggregator", Account.from_key(devnet.ANVIL_DEV_KEY).address,
         "--purpose", "HMB")  # fmt: skip
    _cli("study", "add-hospital", *common, "--key", str(deployer), "--study", STUDY,
         "--hospital", Account.from_key(HOSPITAL_KEY).address)  # fmt: skip
    records = directory / "records.csv"
    records.write_text("record_id,age,label\nr1,61,1\nr2,47,0\nr3,55,1\nr4,70,0\n")
    handover = directory / "handover"
    keyring = directory / "keys.keyring"
    _cli("patients", "enroll", *common, "--key", str(hospital), "--study", STUDY,
         "--data", str(records), "--out", str(directory / "train.csv"),
         "--keys-out", str(keyring), "--handover", str(handover),
         "--handover-scrypt-n", str(PAGE_SCRYPT_N), "--purposes", "HMB,DS-CANCER",
         env={"CONSENTFL_KEYRING_PASSWORD": KEYRING_PASSWORD})  # fmt: skip
    with (handover / "passwords.csv").open() as handle:
        rows = [line.strip().split(",") for line in handle.readlines()[1:]]
    return Study(directory, anvil, deployment, handover, keyring, {r[1]: r[3] for r in rows})


def _serve(study: Study, rpc: str) -> tuple[str, subprocess.Popen[bytes]]:
    relayer = study.directory / f"relayer-{free_port()}.key"
    relayer.write_text(RELAYER_KEY + "\n")
    port = free_port()
    command = [
        str(Path(sys.executable).parent / "consentfl"), "api",
        "--deployment", str(study.deployment), "--relayer-key", str(relayer),
        "--rpc", rpc, "--port", str(port), "--log-level", "warning",
    ]  # fmt: skip
    log = (study.directory / f"api-{port}.log").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, f"consentfl api exited with {process.returncode}"
        try:
            httpx.get(f"{url}/patient/", timeout=2)
            return url, process
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("consentfl api did not start")


def _stop(process: subprocess.Popen[bytes]) -> None:
    os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture(scope="module")
def server(study: Study) -> Iterator[str]:
    url, process = _serve(study, study.rpc)
    try:
        yield url
    finally:
        _stop(process)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        pytest.fail(f"chromium missing at {CHROMIUM}: `make setup` installs it")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield launched
        launched.close()


def _open_page(browser: Browser, url: str) -> tuple[Page, list[str]]:
    page = browser.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(f"{url}/patient/?study={STUDY}")
    page.wait_for_selector("body[data-ready=true]", timeout=30_000)
    return page, requests


def _unlock(page: Page, keystore: Path, password: str) -> None:
    page.get_by_label("Your key file").set_input_files(str(keystore))
    page.get_by_label("Password of the key file").fill(password)
    page.get_by_label("Password of the key file").press("Enter")  # submit from the keyboard


def _patient(study: Study, index: int) -> str:
    return sorted(study.passwords)[index]


def test_a_patient_opens_their_keystore_revokes_and_sees_the_new_status(
    study: Study, server: str, browser: Browser, tmp_path: Path
) -> None:
    patient = _patient(study, 0)
    keystore = study.handover / f"{patient}.keystore.json"
    page, requests = _open_page(browser, server)

    _unlock(page, keystore, "not the password")
    expect(page.locator("#error")).to_contain_text("Wrong password", timeout=30_000)
    _unlock(page, keystore, study.passwords[patient])
    expect(page.locator("#status")).to_have_attribute("data-state", "consented", timeout=30_000)
    expect(page.locator("#patient-address")).to_have_text(patient)
    expect(page.locator("#revoke")).to_be_focused()
    page.keyboard.press("Enter")  # one key press revokes
    expect(page.locator("#status")).to_have_attribute("data-state", "revoked", timeout=60_000)
    screenshot = tmp_path / "patient-page-revoked.png"
    page.screenshot(path=str(screenshot), full_page=True)

    assert screenshot.stat().st_size > 10_000
    expect(page.locator("#notice")).to_contain_text("Your consent is revoked")
    expect(page.locator("#receipt-link")).to_be_visible()
    expect(page.locator("#history tr")).to_have_count(2)
    expect(page.locator("#revoke")).to_be_disabled()
    expect(page.locator("#unlock-row")).to_be_hidden()
    chain = connect(study.rpc)
    manifest = load_manifest(study.deployment)
    record = attach(chain, manifest).consents.record(study_id(STUDY), parse_address(patient))
    assert record.revoked_block > 0
    assert requests
    assert all(r.startswith(server + "/") for r in requests), requests
    page.close()


def test_the_page_shows_the_purposes_and_withdrawing_the_studys_one_stops_the_consent_counting(
    study: Study, server: str, browser: Browser
) -> None:
    patient = _patient(study, 3)
    page, requests = _open_page(browser, server)
    _unlock(page, study.handover / f"{patient}.keystore.json", study.passwords[patient])
    expect(page.locator("#status")).to_have_attribute("data-state", "consented", timeout=30_000)
    expect(page.locator("#study-purpose")).to_contain_text("(HMB)")
    expect(page.locator("#purposes li")).to_have_count(2)
    expect(page.locator("#purposes li[data-purpose=DS-CANCER]")).to_contain_text("cancer only")

    hmb = "Withdraw Health, medical and biomedical research (HMB)"
    page.get_by_role("button", name=hmb).click()  # the button's accessible name

    expect(page.locator("#status")).to_have_attribute("data-state", "uncovered", timeout=60_000)
    expect(page.locator("#notice")).to_contain_text("is withdrawn")
    expect(page.locator("#purposes li")).to_have_count(1)
    expect(page.locator("#purposes li")).to_have_attribute("data-purpose", "DS-CANCER")
    expect(page.locator("#history tr")).to_have_count(2)
    expect(page.locator("#history")).to_contain_text("Withdrawn: HMB")
    record = attach(connect(study.rpc), load_manifest(study.deployment)).consents.record(
        study_id(STUDY), parse_address(patient)
    )
    assert (record.revoked_block, record.covers_study) == (0, False)
    assert all(r.startswith(server + "/") for r in requests), requests
    page.close()


def test_an_already_revoked_consent_is_shown_as_such(
    study: Study, server: str, browser: Browser
) -> None:
    patient = _patient(study, 1)
    keystore = study.handover / f"{patient}.keystore.json"
    page, _ = _open_page(browser, server)
    _unlock(page, keystore, study.passwords[patient])
    expect(page.locator("#status")).to_have_attribute("data-state", "consented", timeout=30_000)
    page.locator("#revoke").click()
    expect(page.locator("#status")).to_have_attribute("data-state", "revoked", timeout=60_000)

    again, _ = _open_page(browser, server)
    _unlock(again, keystore, study.passwords[patient])

    expect(again.locator("#notice")).to_contain_text("already revoked", timeout=30_000)
    expect(again.locator("#revoke")).to_be_disabled()
    page.close()
    again.close()


def test_with_the_chain_down_the_page_says_try_later_and_nothing_changed(
    study: Study, browser: Browser
) -> None:
    url, process = _serve(study, f"http://127.0.0.1:{free_port()}")  # no node listens there
    try:
        patient = _patient(study, 2)
        page, _ = _open_page(browser, url)
        _unlock(page, study.handover / f"{patient}.keystore.json", study.passwords[patient])

        expect(page.locator("#error")).to_contain_text(
            "cannot be reached right now. Nothing was changed", timeout=30_000
        )
        expect(page.locator("#consent")).to_be_hidden()
        page.close()
    finally:
        _stop(process)


def test_handover_receipts_verify_and_a_tampered_one_fails(study: Study, tmp_path: Path) -> None:
    patient = _patient(study, 2)
    receipt_path = study.handover / f"{patient}.receipt.json"
    hospital = Account.from_key(HOSPITAL_KEY).address

    verified = _cli("consent", "verify-receipt", str(receipt_path), "--signer", hospital)
    receipt = json.loads(receipt_path.read_text())
    receipt["event"]["blockNumber"] += 1
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(receipt))
    failed = runner.invoke(app, ["consent", "verify-receipt", str(tampered)])

    assert (verified["kind"], verified["patient"], verified["issuer"]) == (
        "granted", patient, hospital,
    )  # fmt: skip
    assert failed.exit_code == 1
    assert failed.output.startswith("error: ReceiptTamperedError: ")
    assert stat.S_IMODE(receipt_path.stat().st_mode) == 0o600
    assert stat.S_IMODE((study.handover / "passwords.csv").stat().st_mode) == 0o600


def test_export_key_writes_the_keyring_key_as_a_v3_keystore(study: Study, tmp_path: Path) -> None:
    patient = _patient(study, 1)
    out = tmp_path / "patient.keystore.json"

    _cli("patients", "export-key", "--keyring", str(study.keyring), "--patient", patient,
         "--out", str(out), "--scrypt-n", "1024",
         env={"CONSENTFL_KEYRING_PASSWORD": KEYRING_PASSWORD,
              "CONSENTFL_PATIENT_PASSWORD": "patient's own password"})  # fmt: skip
    wrong = runner.invoke(
        app, ["patients", "export-key", "--keyring", str(study.keyring), "--patient", patient,
              "--out", str(tmp_path / "x.json")],
        env={"CONSENTFL_KEYRING_PASSWORD": "wrong", "CONSENTFL_PATIENT_PASSWORD": "long enough"},
    )  # fmt: skip

    document = json.loads(out.read_text())
    assert document["version"] == 3
    assert document["crypto"]["kdf"] == "scrypt"
    assert load_keystore(out, "patient's own password").address == patient
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert wrong.exit_code == 1
    assert "wrong password" in wrong.output
    assert not (tmp_path / "x.json").exists()


def test_fhir_export_imports_back_and_a_changed_record_fails_against_the_chain(
    study: Study, tmp_path: Path
) -> None:
    patient = _patient(study, 2)
    out = tmp_path / "consent.fhir.json"
    common = ["--rpc", study.rpc, "--deployment", str(study.deployment)]

    result = runner.invoke(app, ["consent", "fhir", "export", *common, "--study", STUDY,
                                 "--patient", patient, "--out", str(out)])  # fmt: skip
    imported = _cli("consent", "fhir", "import", str(out), *common)
    resource = json.loads(out.read_text())
    for extension in resource["extension"]:
        if extension["url"].endswith("granted-block"):
            extension["valueUnsignedInt"] += 1
    changed = tmp_path / "changed.fhir.json"
    changed.write_text(json.dumps(resource))
    mismatch = runner.invoke(app, ["consent", "fhir", "import", str(changed), *common])

    assert result.exit_code == 0, result.output
    assert resource["status"] == "active"
    assert imported["patient"] == patient
    assert imported["checked_on_chain"] is True
    assert mismatch.exit_code == 1
    assert "does not match the chain's record" in mismatch.output


def test_cli_grant_and_relayed_revoke_write_receipts_signed_by_their_senders(
    study: Study, tmp_path: Path
) -> None:
    patient = Account.create()
    patient_key = tmp_path / "patient.key"
    patient_key.write_text("0x" + bytes(patient.key).hex() + "\n")
    hospital_key = tmp_path / "hospital.key"
    hospital_key.write_text(HOSPITAL_KEY + "\n")
    relayer_key = tmp_path / "relayer.key"
    relayer_key.write_text(RELAYER_KEY + "\n")
    common = ["--rpc", study.rpc, "--deployment", str(study.deployment), "--study", STUDY]

    grant_out, revoke_out = str(tmp_path / "grant.json"), str(tmp_path / "revoke.json")
    hospital, relayer = (
        Account.from_key(HOSPITAL_KEY).address,
        Account.from_key(RELAYER_KEY).address,
    )

    granted = _cli("consent", "grant", *common, "--key", str(hospital_key),
                   "--patient-key", str(patient_key), "--receipt", grant_out)  # fmt: skip
    revoked = _cli("consent", "revoke", *common, "--patient-key", str(patient_key),
                   "--relay-key", str(relayer_key), "--receipt", revoke_out)  # fmt: skip
    grant_receipt = _cli("consent", "verify-receipt", grant_out, "--signer", hospital)
    revoke_receipt = _cli("consent", "verify-receipt", revoke_out, "--signer", relayer)
    wrong_signer = runner.invoke(app, ["consent", "verify-receipt", grant_out, "--signer", relayer])

    assert (grant_receipt["kind"], grant_receipt["tx"]) == ("granted", granted["tx"])
    assert (revoke_receipt["kind"], revoke_receipt["block"]) == ("revoked", revoked["block"])
    assert wrong_signer.exit_code == 1
    assert wrong_signer.output.startswith("error: ReceiptSignerMismatchError: ")
