"""Options and helpers shared by the ledger commands (chain, study, consent)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from api.wiring import DEFAULT_RPC
from chain.connection import Chain, connect
from chain.errors import ChainError
from consent.errors import ConsentError
from consent.ids import InvalidIdentifierError, StudyId, study_id
from consent.keys import PatientKey, load_hex_key

RpcOption = Annotated[
    str | None,
    typer.Option(
        "--rpc",
        envvar="CONSENTFL_RPC",
        help="JSON-RPC URL of the chain (default: the deployment manifest's, else "
        f"{DEFAULT_RPC}), or 'eth-tester' for an in-process chain.",
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
        # ChainUnavailableError and StoreUnavailableError are OSErrors: one line, no traceback
        fail(str(exc) or type(exc).__name__)


def parse_study(value: str) -> StudyId:
    """A study id from a name or hex id."""
    return study_id(value)


def load_key(path: Path) -> PatientKey:
    """The key in a hex key file."""
    return load_hex_key(path)


def open_chain(rpc: str, expected_chain_id: int | None = None) -> Chain:
    """Connect to `rpc` (no manifest involved: `chain deploy`)."""
    return connect(rpc, expected_chain_id=expected_chain_id)


def emit(as_json: bool, payload: dict[str, Any], text: str) -> None:
    """Print `payload` as JSON or `text` for humans."""
    typer.echo(json.dumps(payload, sort_keys=True) if as_json else text)
