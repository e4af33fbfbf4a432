"""`consentfl dev up|down`: a local anvil and IPFS node with their state under a directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.commands._chain_common import JsonOption, cli_errors, emit

__all__ = ["dev_app"]

dev_app = typer.Typer(
    name="dev",
    help="Run a local development chain (anvil) and IPFS node (js-ipfs) kept under a directory.",
    no_args_is_help=True,
)

DirOption = Annotated[
    Path, typer.Option("--dir", help="Directory holding the devnet's state, logs and pid file.")
]


@dev_app.command("up")
def up(
    directory: DirOption = Path(".consentfl-dev"),
    port: Annotated[int | None, typer.Option(help="RPC port (default: a free one).")] = None,
    ipfs: Annotated[bool, typer.Option(help="Also start the offline IPFS node.")] = True,
    as_json: JsonOption = False,
) -> None:
    """Start anvil and the offline IPFS node on 127.0.0.1 with their state in DIR (a restart
    keeps the chain and the artifacts); print the RPC and IPFS API URLs and write DIR/dev.key
    (anvil's public test account 0, for local use only)."""
    from chain import devnet
    from consent.private_file import write_private_file

    with cli_errors():
        services = devnet.up(directory, anvil_port=port, ipfs=ipfs)
        key_file = directory / "dev.key"
        if not key_file.exists():
            write_private_file(key_file, (devnet.ANVIL_DEV_KEY + "\n").encode())
    anvil = services[0]
    node = services[1] if len(services) > 1 else None
    body: dict[str, object] = {"rpc": anvil.url, "pid": anvil.pid, "dev_key": str(key_file)}
    text = f"anvil: {anvil.url} (pid {anvil.pid})"
    if node is not None:
        body |= {"ipfs": node.url, "ipfs_pid": node.pid}
        text += f"\nipfs:  {node.url} (pid {node.pid})"
    emit(as_json, body, f"{text}\ndev key: {key_file}")


@dev_app.command("down")
def down(directory: DirOption = Path(".consentfl-dev"), as_json: JsonOption = False) -> None:
    """Stop the devnet started in DIR (its state stays in DIR)."""
    from chain import devnet

    with cli_errors():
        stopped = devnet.down(directory)
    names = [f"{s.name} (pid {s.pid})" for s in stopped]
    emit(
        as_json,
        {"stopped": [s.name for s in stopped]},
        f"stopped {', '.join(names)}" if names else f"nothing running in {directory}",
    )
