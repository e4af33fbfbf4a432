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
