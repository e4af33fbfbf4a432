"""`consentfl` starts without loading what only some commands need.

Each check runs a fresh interpreter (a module imported by this test session would hide the
answer) and lists which heavy packages ended up in `sys.modules`."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

from chain.manifest import Manifest, save_manifest
from consent.ids import parse_address

TRAINING: tuple[str, ...] = ("torch", "sklearn", "pandas", "opacus", "eth_tester")
"""What only training, the audit's recomputations or the in-process chain need."""
SERVING: tuple[str, ...] = ("web3", "eth_account", "fastapi", "uvicorn", "numpy")
"""What only the commands that talk to a chain, or serve HTTP, need."""


def _loaded_after(code: str) -> list[str]:
    probe = (
        f"{code}\nimport json, sys\n"
        f"print(json.dumps(sorted(m for m in {TRAINING + SERVING!r} if m in sys.modules)))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=240, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    loaded: list[str] = json.loads(proc.stdout.strip().splitlines()[-1])
    return loaded


def test_importing_the_cli_loads_no_training_chain_or_server_package() -> None:
    assert _loaded_after("import api.cli") == []


def test_help_loads_no_training_chain_or_server_package() -> None:
    loaded = _loaded_after(
        "import sys\nfrom typer.testing import CliRunner\nfrom api.cli import app\n"
        "result = CliRunner().invoke(app, ['--help'])\n"
        "assert result.exit_code == 0 and 'consent' in result.output, result.output"
    )

    assert loaded == []


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_chain_command_loads_web3_but_not_torch_sklearn_or_eth_tester(tmp_path: Path) -> None:
    zero = parse_address("0x" + "11" * 20)
    manifest = tmp_path / "deployment.json"
    save_manifest(
        Manifest(
            chain_id=31337,
            study_registry=zero,
            consent_registry=zero,
            round_ledger=zero,
            deploy_block=1,
            deployer=zero,
            artifact_sha256={},
            rpc=f"http://127.0.0.1:{_closed_port()}",
        ),
        manifest,
    )
    patient = "0x" + "22" * 20

    loaded = _loaded_after(
        "from typer.testing import CliRunner\nfrom api.cli import app\n"
        "result = CliRunner().invoke(app, ['consent', 'status', '--deployment', "
        f"{str(manifest)!r}, '--study', 's', '--patient', {patient!r}])\n"
        "assert result.exit_code == 1, result.output\n"
        "assert 'error:' in result.output, result.output"
    )

    assert "web3" in loaded  # it did reach the chain code (and found the node down)
    assert not set(loaded) & set(TRAINING), loaded
