"""`consentfl api --workers N`: one batcher process, N uvicorn worker processes.

With one worker (the default) `consentfl api` is one uvicorn process that checks and sends.
With more, one CPU-bound process tops out (HTTP, JSON, EIP-712 recovery and receipt signing
cost ~4.7 ms a revocation), so the work is split: `serve_workers` starts the batcher process
(`python -m api.serving`: the relayer key's nonce counter, the journal and the batching,
`chain.relay_server`) on a Unix socket next to the journal (`<journal>.sock`, 0600), waits until
it answers, then runs uvicorn with `workers=N` over the `api.app:create_app` factory; the
workers (`CONSENTFL_RELAYER_SOCKET` set) check every request and forward what they would send
(`chain.relay_client`). Settings reach both through `CONSENTFL_*` environment variables. A
batcher that exits is started again (workers answer 503 meanwhile; it resends its journal). On
exit (or SIGTERM, which uvicorn turns into a shutdown) the batcher is stopped by its pid.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Final

from api.services import RelayerKeyError, journal_path, load_relayer_key
from api.settings import Settings
from api.wiring import open_ledger
from chain.errors import ChainError
from chain.relay import RevocationRelay
from chain.relay_batcher import RevocationBatcher
from chain.relay_client import RemoteBatcher
from chain.relay_journal import RevocationJournal
from chain.relay_server import RelayServer, serve_until_closed
from chain.relay_wire import RelayBatcherUnavailableError
from chain.transactions import Sender

__all__ = ["BatcherStartError", "batcher_socket", "run_batcher", "serve_workers"]

logger = logging.getLogger(__name__)

_START_S: Final = 60.0
"""How long the batcher process may take to answer on its socket."""
_STOP_S: Final = 10.0
_RESTART_S: Final = 1.0
"""How long after the batcher exited it is started again."""


class BatcherStartError(RuntimeError):
    """The batcher process exited or did not answer in time (its log says why)."""


def batcher_socket(settings: Settings) -> Path:
    """The batcher's socket: next to the journal, `<journal>.sock`."""
    journal = journal_path(settings)
    if journal is None:
        raise BatcherStartError("--workers above 1 needs a relayer key (--relayer-key)")
    return journal.with_name(journal.name + ".sock")


def run_batcher(settings: Settings) -> None:
    """The batcher process: relay with the one relayer sender and journal, serve the socket."""
    if settings.relayer_key is None or settings.deployment is None:
        raise BatcherStartError("the batcher needs a deployment and a relayer key")
    ledger = open_ledger(
        settings.rpc,
        settings.deployment,
        timeout=settings.chain_timeout_seconds,
        refuse_ephemeral=False,
    )
    password = settings.relayer_key_password
    key = load_relayer_key(
        settings.relayer_key, None if password is None else password.get_secret_value()
    )
    relaying = ledger.with_sender(
        Sender.from_key(ledger.chain, key.private_key, manage_nonces=True)
    )
    journal = journal_path(settings)
    batcher = RevocationBatcher(
        relaying.consents, None if journal is None else RevocationJournal(journal), max_batch=200
    )
    relay = RevocationRelay(relaying, batcher=batcher)
    server = RelayServer(relay, batcher, batcher_socket(settings))

    def stop(_signum: int, _frame: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent
    # stops the workers first, then this process (SIGTERM), so no request is cut short here
    logger.info("batcher for %s serving %s (resent %d)", key.address, server.path, relay.resumed)
    serve_until_closed(server)


def _start_batcher(path: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "CONSENTFL_RELAYER_SOCKET"}
    process = subprocess.Popen([sys.executable, "-m", "api.serving"], env=env)
    remote = RemoteBatcher(path, connect_timeout=1.0)
    deadline = time.monotonic() + _START_S
    while True:
        if process.poll() is not None:
            raise BatcherStartError(f"the batcher process exited with status {process.returncode}")
        try:
            remote.ping()
            return process
        except (RelayBatcherUnavailableError, TimeoutError):
            if time.monotonic() > deadline:
                _stop(process)
                raise BatcherStartError(f"the batcher did not answer at {path}") from None
            time.sleep(0.1)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(_STOP_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _watch(path: Path, current: list[subprocess.Popen[bytes]], stop: threading.Event) -> None:
    """Start the batcher again when it exits (`_RESTART_S` later): meanwhile the workers answer
    503, and the new one resends its journal."""
    while not stop.wait(0.5):
        if current[0].poll() is None:
            continue
        logger.error("the batcher process exited (%s): restarting it", current[0].returncode)
        if stop.wait(_RESTART_S):
            return
        try:
            current[0] = _start_batcher(path)
        except BatcherStartError as exc:
            logger.error("%s", exc)


def serve_workers(
    settings: Settings, *, host: str, port: int, log_level: str, workers: int
) -> None:
    """Run the batcher and `workers` uvicorn processes until uvicorn stops (see the module
    docstring). `settings` must be what the `CONSENTFL_*` environment gives."""
    import uvicorn

    path = batcher_socket(settings)
    current = [_start_batcher(path)]
    stop = threading.Event()
    watcher = threading.Thread(target=_watch, args=(path, current, stop), daemon=True)
    watcher.start()
    os.environ["CONSENTFL_RELAYER_SOCKET"] = str(path)
    try:
        uvicorn.run(
            "api.app:create_app",
            factory=True,
            host=host,
            port=port,
            log_level=log_level,
            workers=workers,
        )
    finally:
        os.environ.pop("CONSENTFL_RELAYER_SOCKET", None)
        stop.set()
        watcher.join(_START_S + _STOP_S)
        _stop(current[0])


if __name__ == "__main__":
    logging.basicConfig(
        level=os.environ.get("CONSENTFL_LOG_LEVEL", "INFO").upper(),
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        run_batcher(Settings())
    except (ChainError, RelayerKeyError, OSError) as exc:  # one line, no traceback
        sys.stderr.write(f"error: the batcher cannot start: {exc}\n")
        sys.exit(1)
