"""`consentfl chain ...`: deploy the ledger contracts."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer

from api.commands._chain_common import (
    JsonOption,
    RpcOption,
    cli_errors,
    emit,
    fail,
    load_key,
    open_chain,
)
from api.defaults import DEFAULT_RPC

__all__ = ["chain_app"]

chain_app = typer.Typer(name="chain", help="Deploy the ledger contracts.", no_args_is_help=True)


@chain_app.callback()
def _chain() -> None:
    """Deploy the ledger contracts."""


@chain_app.command("deploy")
def deploy_command(
    out: Annotated[Path, typer.Option("--out", help="Where to write the deployment manifest.")],
    rpc: RpcOption = None,
    ipfs: Annotated[
        str | None,
        typer.Option(
            "--ipfs",
            envvar="CONSENTFL_IPFS",
            help="Artifact store (IPFS API URL or directory) to record in the manifest.",
        ),
    ] = None,
    key: Annotated[
        Path | None,
        typer.Option("--key", help="Deployer's hex key file (optional on eth-tester)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Deploy StudyRegistry, ConsentRegistry and RoundLedger; write the manifest only after
    all three deployments succeeded. The deployer becomes admin and study coordinator."""
    from chain.deploy import deploy
    from chain.manifest import save_manifest
    from chain.transactions import Sender

    with cli_errors():
        rpc = rpc or DEFAULT_RPC
        chain = open_chain(rpc)
        if key is not None:
            sender = Sender.from_key(chain, load_key(key).private_key)
        elif chain.ephemeral:
            sender = Sender.unlocked(chain, chain.w3.eth.accounts[0])
        else:
            fail("--key is required to deploy on a JSON-RPC chain")
        manifest = deploy(chain, sender)
        # the endpoints it was deployed with: every command uses them unless told otherwise
        recorded_rpc = None if chain.ephemeral else rpc
        manifest = dataclasses.replace(manifest, rpc=recorded_rpc, ipfs=ipfs)
        save_manifest(manifest, out)
    note = (
        " (eth-tester: the chain lives in this process and is gone now)" if chain.ephemeral else ""
    )
    lines = [f"deployed on chain {manifest.chain_id} at block {manifest.deploy_block}{note}"]
    lines += [f"  {name}: {address}" for name, address in manifest.addresses().items()]
    lines.append(f"manifest written to {out}")
    payload = {
        "manifest": str(out),
        "ephemeral": chain.ephemeral,
        **manifest.addresses(),
        "rpc": manifest.rpc,
        "ipfs": manifest.ipfs,
    }
    emit(as_json, payload, "\n".join(lines))
