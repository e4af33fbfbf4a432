"""`consentfl api --workers N` refuses, in one line and before starting anything, what cannot
work: several workers without a relayer key (they would have no batcher), or fewer than one."""

from __future__ import annotations

import os
from pathlib import Path

from typer.testing import CliRunner

from api.cli import app
from chain.manifest import Manifest, save_manifest
from consent.ids import parse_address


def _manifest(tmp_path: Path) -> Path:
    zero = parse_address("0x" + "11" * 20)
    path = tmp_path / "deployment.json"
    save_manifest(
        Manifest(
            chain_id=31337,
            study_registry=zero,
            consent_registry=zero,
            round_ledger=zero,
            deploy_block=1,
            deployer=zero,
            artifact_sha256={},
            rpc="http://127.0.0.1:9",
        ),
        path,
    )
    return path


def test_several_workers_need_a_relayer_key(tmp_path: Path) -> None:
    before = dict(os.environ)
    command = ["api", "--deployment", str(_manifest(tmp_path)), "--workers", "2"]
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 1, result.output
    assert "error: --workers above 1 needs a relayer key" in result.output
    assert "Traceback" not in result.output
    assert dict(os.environ) == before  # refused before any setting is exported


def test_zero_workers_is_refused(tmp_path: Path) -> None:
    command = ["api", "--deployment", str(_manifest(tmp_path)), "--workers", "0"]
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 2, result.output
