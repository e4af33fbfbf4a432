"""`consentfl api`: serve the web API with uvicorn (127.0.0.1 unless told otherwise)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated

import typer

from api.commands._chain_common import RpcOption, cli_errors, fail

__all__ = ["api_command"]


def api_command(
    deployment: Annotated[
        Path,
        typer.Option("--deployment", envvar="CONSENTFL_DEPLOYMENT", help="Deployment manifest."),
    ],
    relayer_key: Annotated[
        Path | None,
        typer.Option(
            "--relayer-key",
            envvar="CONSENTFL_RELAYER_KEY",
            help="Hex private key file, or keystore JSON (password in "
            "CONSENTFL_RELAYER_KEY_PASSWORD), of the account that pays for relayed revocations.",
        ),
    ] = None,
    rpc: RpcOption = None,
    ipfs: Annotated[
        str | None,
        typer.Option(
            "--ipfs", envvar="CONSENTFL_IPFS", help="IPFS RPC API URL or local store directory."
        ),
    ] = None,
    proofs: Annotated[
        Path | None,
        typer.Option("--proofs", envvar="CONSENTFL_PROOFS", help="Published exclusion proofs."),
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to bind.")] = 8000,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "info",
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            help="HTTP worker processes; above 1, one more batcher process sends every relayed "
            "transaction (needs --relayer-key).",
        ),
    ] = 1,
) -> None:
    """Serve the patient and auditor web API (OpenAPI at /openapi.json, docs at /docs)."""
    import uvicorn

    from api.app import create_app
    from api.services import RelayerKeyError, check_startup
    from api.settings import Settings

    settings = Settings(
        deployment=deployment,
        relayer_key=relayer_key,
        rpc=rpc,
        ipfs=ipfs,
        proofs=proofs,
    )
    with cli_errors():
        try:
            check_startup(settings)
        except RelayerKeyError as exc:
            fail(str(exc))
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    if workers == 1:
        uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level)
        return
    from api.serving import BatcherStartError, serve_workers

    if relayer_key is None:
        fail("--workers above 1 needs a relayer key (--relayer-key)")
    options = {"DEPLOYMENT": deployment, "RELAYER_KEY": relayer_key, "RPC": rpc}
    options |= {"IPFS": ipfs, "PROOFS": proofs, "LOG_LEVEL": log_level}
    for name, value in options.items():  # the batcher and the workers read their settings here
        if value is not None:
            os.environ["CONSENTFL_" + name] = str(value)
    with cli_errors():
        try:
            serve_workers(Settings(), host=host, port=port, log_level=log_level, workers=workers)
        except BatcherStartError as exc:
            fail(str(exc))
