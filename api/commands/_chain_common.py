"""Options and helpers shared by the ledger commands (chain, study, consent).

Importing this module (and every command module) loads typer and nothing heavy: web3, torch,
scikit-learn and eth-tester are imported inside the commands that use them, so `consentfl --help`
and the light commands start fast (tests/unit/api/test_cli_startup.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from api.defaults import DEFAULT_RPC

if TYPE_CHECKING:
    from chain.connection import Chain
    from consent.ids import StudyId
    from consent.keys import PatientKey


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
IpfsOption = Annotated[
    str | None,
    typer.Option(
        "--ipfs",
        help="IPFS RPC API URL, or a local store directory (default: the deployment manifest's).",
    ),
]
PollOption = Annotated[float, typer.Option(min=0.05, help="Seconds between ledger polls.")]


def fail(message: str) -> NoReturn:
    """Print one error line and exit 1."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


@contextmanager
def cli_errors() -> Iterator[None]:
    """Turn domain errors into one clear line and exit code 1 (no traceback)."""
    try:
        yield
    except Exception as exc:
        if not isinstance(exc, _domain_errors()):
            raise
        # ChainUnavailableError and StoreUnavailableError are OSErrors: one line, no traceback
        fail(str(exc) or type(exc).__name__)


def _domain_errors() -> tuple[type[Exception], ...]:
    """The errors `cli_errors` turns into one line (imported only once one was raised)."""
    from chain.errors import ChainError
    from consent.errors import ConsentError
    from consent.ids import InvalidIdentifierError

    return (ChainError, ConsentError, InvalidIdentifierError, OSError, ValueError)


def parse_study(value: str) -> StudyId:
    """A study id from a name or hex id."""
    from consent.ids import study_id

    return study_id(value)


def load_key(path: Path) -> PatientKey:
    """The key in a hex key file."""
    from consent.keys import load_hex_key

    return load_hex_key(path)


def open_chain(rpc: str, expected_chain_id: int | None = None) -> Chain:
    """Connect to `rpc` (no manifest involved: `chain deploy`)."""
    from chain.connection import connect

    return connect(rpc, expected_chain_id=expected_chain_id)


def emit(as_json: bool, payload: dict[str, Any], text: str) -> None:
    """Print `payload` as JSON or `text` for humans."""
    typer.echo(json.dumps(payload, sort_keys=True) if as_json else text)
