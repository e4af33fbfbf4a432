"""Options and helpers shared by the ledger commands (chain, study, consent)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from chain.connection import ETH_TESTER_CHAIN_ID, Chain, connect
from chain.deploy import Ledger, attach
from chain.errors import ChainError
from chain.manifest import load_manifest
from chain.transactions import Sender
from consent.errors import ConsentError
from consent.ids import InvalidIdentifierError, StudyId, study_id
from consent.keys import PatientKey, load_hex_key

DEFAULT_RPC = "http://127.0.0.1:8545"

RpcOption = Annotated[
    str,
    typer.Option(
        "--rpc",
        envvar="CONSENTFL_RPC",
        help="JSON-RPC URL of the chain, or 'eth-tester' for an in-process chain.",
    ),
]
DeploymentOption = Annotated[
    Path,
    typer.Option("--deployment", envvar="CONSENTFL_DEPLOYMENT", help="Deployment manifest JSON."),
]
KeyOption = Annotated[
    Path, typer.Option("--key", help="File holding the sender's hex private key (0x...).")
]
StudyOption = Annotated[
    str, typer.Option("--study", help="Study name, or its 0x-prefixed 32-byte id.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def fail(message: str) -> NoReturn:
    """Print one error line and exit 1."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


@contextmanager
def cli_errors() -> Iterator[None]:
    """Turn domain errors into one clear line and exit code 1 (no traceback)."""
    try:
        yield
    except (ChainError, ConsentError, InvalidIdentifierError, OSError, ValueError) as exc:
        fail(str(exc) or type(exc).__name__)


def parse_study(value: str) -> StudyId:
    """A study id from a name or hex id."""
    return study_id(value)


def load_key(path: Path) -> PatientKey:
    """The key in a hex key file."""
    return load_hex_key(path)


def open_chain(rpc: str, expected_chain_id: int | None = None) -> Chain:
    """Connect to `rpc`."""
    return connect(rpc, expected_chain_id=expected_chain_id)


def open_ledger(rpc: str, deployment: Path, key: Path | None) -> Ledger:
    """The deployment's facades on `rpc`, sending as the key in `key` (read-only if None)."""
    manifest = load_manifest(deployment)
    if manifest.chain_id == ETH_TESTER_CHAIN_ID:
        raise ValueError(
            f"{deployment} was deployed on an in-process eth-tester chain, which ended with the "
            "process that made it; deploy on a node (`consentfl dev up`, --rpc URL) to use it "
            "from other commands"
        )
    chain = open_chain(rpc, manifest.chain_id)
    sender = None
    if key is not None:
        sender = Sender.from_key(chain, load_key(key).private_key)
    return attach(chain, manifest, sender)


def emit(as_json: bool, payload: dict[str, Any], text: str) -> None:
    """Print `payload` as JSON or `text` for humans."""
    typer.echo(json.dumps(payload, sort_keys=True) if as_json else text)
