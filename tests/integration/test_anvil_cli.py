"""The ledger CLI against real anvil nodes: a study's consent life cycle, and `dev up|down`
keeping the chain across a restart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_account import Account
from eth_utils import keccak
from typer.testing import CliRunner

from api.cli import app
from chain import devnet
from chain.connection import connect
from chain.manifest import load_manifest
from consent.eip712 import consent_registry_domain, sign_consent
from consent.ids import parse_address, study_id

pytestmark = pytest.mark.integration

runner = CliRunner()
HOSPITAL_KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"


def _run(*args: str) -> dict[str, object]:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    payload: dict[str, object] = json.loads(result.output)
    return payload


def _key_file(directory: Path, name: str, key: str) -> Path:
    path = directory / name
    path.write_text(key + "\n")
    return path


def test_cli_consent_life_cycle_on_anvil(anvil: str, tmp_path: Path) -> None:
    deployer = _key_file(tmp_path, "deployer.key", devnet.ANVIL_DEV_KEY)
    hospital = _key_file(tmp_path, "hospital.key", HOSPITAL_KEY)
    patient_account = Account.from_key(keccak(text="cli patient"))
    patient = _key_file(tmp_path, "patient.key", "0x" + bytes(patient_account.key).hex())
    relayer = deployer
    out = tmp_path / "deployment.json"
    common = ["--rpc", anvil, "--deployment", str(out)]

    _run("chain", "deploy", "--rpc", anvil, "--out", str(out), "--key", str(deployer))
    assert load_manifest(out).chain_id == 31337
    _run("study", "create", *common, "--key", str(deployer), "--study", "cli-study",
         "--aggregator", Account.from_key(devnet.ANVIL_DEV_KEY).address)  # fmt: skip
    _run("study", "add-hospital", *common, "--key", str(deployer), "--study", "cli-study",
         "--hospital", Account.from_key(HOSPITAL_KEY).address)  # fmt: skip
    status_args = ["consent", "status", *common, "--study", "cli-study",
                   "--patient", patient_account.address]  # fmt: skip
    assert _run(*status_args)["consented"] is False

    _run("consent", "grant", *common, "--key", str(hospital), "--study", "cli-study",
         "--patient-key", str(patient))  # fmt: skip
    granted = _run(*status_args)
    assert granted["consented"] is True
    assert granted["hospital"] == Account.from_key(HOSPITAL_KEY).address

    revoked = _run("consent", "revoke", *common, "--study", "cli-study",
                   "--patient-key", str(patient), "--relay-key", str(relayer))  # fmt: skip
    status = _run(*status_args)
    assert status["consented"] is False
    assert status["revoked_block"] == revoked["block"]

    revoke_args = ["consent", "revoke", *common, "--study", "cli-study",
                   "--patient-key", str(patient), "--relay-key", str(relayer)]  # fmt: skip
    again = runner.invoke(app, revoke_args)
    assert again.exit_code == 1
    assert again.output.startswith("error: NoActiveConsent(")
    assert "Traceback" not in again.output


def test_deploy_on_rpc_without_key_fails_cleanly(anvil: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["chain", "deploy", "--rpc", anvil, "--out", str(tmp_path / "d")])
    assert result.exit_code == 1
    assert result.output == "error: --key is required to deploy on a JSON-RPC chain\n"


def test_dev_up_down_restart_keeps_the_chain(tmp_path: Path) -> None:
    directory = tmp_path / "dev"
    first = _run("dev", "up", "--dir", str(directory), "--no-ipfs")
    try:
        rpc = str(first["rpc"])
        key = Path(str(first["dev_key"]))
        out = tmp_path / "deployment.json"
        _run("chain", "deploy", "--rpc", rpc, "--out", str(out), "--key", str(key))
        again = runner.invoke(app, ["dev", "up", "--dir", str(directory), "--no-ipfs"])
        assert again.exit_code == 1
        assert "already runs" in again.output
    finally:
        stopped = _run("dev", "down", "--dir", str(directory))
    assert stopped["stopped"] == ["anvil"]
    assert devnet.status(directory) == []

    second = _run("dev", "up", "--dir", str(directory), "--no-ipfs")
    try:
        chain = connect(str(second["rpc"]))
        manifest = load_manifest(out)
        assert all(chain.has_code(address) for address in manifest.addresses().values())
        assert chain.block_number() >= manifest.deploy_block
    finally:
        _run("dev", "down", "--dir", str(directory))


def test_cli_grant_of_a_signature_made_elsewhere_and_the_refusals(
    anvil: str, tmp_path: Path
) -> None:
    """`consent grant --patient --signature --deadline`: the patient signed on their own device;
    without a deadline, or without either way of signing, it refuses before any transaction."""
    deployer = _key_file(tmp_path, "deployer.key", devnet.ANVIL_DEV_KEY)
    hospital = _key_file(tmp_path, "hospital.key", HOSPITAL_KEY)
    patient = Account.from_key(keccak(text="cli patient signing elsewhere"))
    out = tmp_path / "deployment.json"
    common = ["--rpc", anvil, "--deployment", str(out)]
    _run("chain", "deploy", "--rpc", anvil, "--out", str(out), "--key", str(deployer))
    _run("study", "create", *common, "--key", str(deployer), "--study", "cli-elsewhere",
         "--aggregator", Account.from_key(devnet.ANVIL_DEV_KEY).address)  # fmt: skip
    hospital_address = parse_address(Account.from_key(HOSPITAL_KEY).address)
    _run("study", "add-hospital", *common, "--key", str(deployer), "--study", "cli-elsewhere",
         "--hospital", hospital_address)  # fmt: skip
    manifest = load_manifest(out)
    deadline = 2**40
    signature = sign_consent(
        bytes(patient.key),
        consent_registry_domain(manifest.chain_id, manifest.consent_registry),
        study_id("cli-elsewhere"),
        parse_address(patient.address),
        hospital_address,
        0,
        0,
        deadline,
    )
    grant = ["consent", "grant", *common, "--key", str(hospital), "--study", "cli-elsewhere",
             "--patient", patient.address, "--signature", "0x" + signature.hex()]  # fmt: skip

    undated = runner.invoke(app, grant)
    assert undated.exit_code == 1
    assert undated.output == "error: --signature needs the --deadline it was signed with\n"
    unsigned = runner.invoke(app, [*grant[:-4], "--deadline", str(deadline)])
    assert unsigned.exit_code == 1
    assert unsigned.output == "error: give --patient-key, or --patient with --signature\n"
    status_args = ["consent", "status", *common, "--study", "cli-elsewhere",
                   "--patient", patient.address]  # fmt: skip
    assert _run(*status_args)["consented"] is False

    granted = _run(*grant, "--deadline", str(deadline))
    assert granted["patient"] == patient.address
    status = _run(*status_args)
    assert status["consented"] is True
    assert status["hospital"] == hospital_address
