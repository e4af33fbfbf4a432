"""The ledger CLI: help everywhere, eth-tester deploy, one-line errors with a non-zero exit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from chain.manifest import load_manifest

runner = CliRunner()

COMMANDS = [
    ["chain", "deploy"],
    ["study", "create"],
    ["study", "add-hospital"],
    ["study", "show"],
    ["consent", "grant"],
    ["consent", "revoke"],
    ["consent", "status"],
    ["dev", "up"],
    ["dev", "down"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_ledger_command_has_help(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_deploy_on_eth_tester_writes_a_manifest_and_says_it_is_ephemeral(tmp_path: Path) -> None:
    out = tmp_path / "deployment.json"
    result = runner.invoke(app, ["chain", "deploy", "--rpc", "eth-tester", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "lives in this process" in result.output
    manifest = load_manifest(out)
    assert manifest.chain_id == 131277322940537
    assert manifest.study_registry in result.output


def test_deploy_json_output_names_the_three_contracts(tmp_path: Path) -> None:
    out = tmp_path / "d.json"
    args = ["chain", "deploy", "--rpc", "eth-tester", "--out", str(out), "--json"]
    result = runner.invoke(app, args)
    payload = json.loads(result.output)
    assert payload["ephemeral"] is True
    assert set(payload) >= {"StudyRegistry", "ConsentRegistry", "RoundLedger"}


def test_unreachable_rpc_prints_one_error_line_and_exits_1(tmp_path: Path) -> None:
    out = tmp_path / "d.json"
    args = ["chain", "deploy", "--rpc", "http://127.0.0.1:9", "--out", str(out), "--key", "k"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0
    assert result.output.startswith("error: ")
    assert "Traceback" not in result.output
    assert "connection refused (is the node running?)" in result.output
    assert not out.exists()


def test_eth_tester_deployment_used_from_another_process_says_the_chain_is_gone(
    tmp_path: Path,
) -> None:
    out = tmp_path / "d.json"
    runner.invoke(app, ["chain", "deploy", "--rpc", "eth-tester", "--out", str(out)])
    args = [
        "consent", "status", "--deployment", str(out),
        "--study", "s", "--patient", "0x" + "11" * 20, "--rpc", "http://127.0.0.1:9",
    ]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert result.output.count("\n") == 1
    assert "in-process eth-tester chain, which ended with the process" in result.output


def test_missing_manifest_is_one_clear_error(tmp_path: Path) -> None:
    args = [
        "consent", "status", "--deployment", str(tmp_path / "none.json"),
        "--study", "s", "--patient", "0x" + "11" * 20, "--rpc", "eth-tester",
    ]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert "cannot read deployment manifest" in result.output


def test_manifest_of_unknown_version_is_refused_with_one_line(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["chain", "deploy", "--rpc", "eth-tester", "--out", str(tmp_path / "x.json")]
    )
    assert result.exit_code == 0
    manifest_path = tmp_path / "x.json"
    bad = tmp_path / "bad.json"
    bad.write_text(manifest_path.read_text().replace('"version": 1', '"version": 9'))
    args = ["consent", "status", "--deployment", str(bad), "--study", "s",
            "--patient", "0x" + "11" * 20, "--rpc", "eth-tester"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert "unsupported manifest version" in result.output
