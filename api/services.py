"""Wiring of the web API's adapters: the ledger, the relayer, the consent history, the store.

`Services` is what the routers use. `ServiceProvider` builds it from `Settings` on first use and
keeps it, so the app starts even while the chain is down (requests get 503 until it answers), or
hands out `Services` injected by tests and by the embedded demo.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from api.problems import RelayerUnavailableError
from api.settings import Settings
from api.wiring import open_ledger
from chain.consent_history import ConsentHistory
from chain.deploy import Ledger
from chain.errors import DeploymentError
from chain.manifest import load_manifest
from chain.relay import RevocationRelay
from chain.relay_client import ForwardingRelay, RemoteBatcher
from chain.relay_journal import RevocationJournal
from chain.store import ArtifactStore, open_store
from chain.transactions import Sender
from consent.errors import ConsentError
from consent.keys import PatientKey, load_hex_key, load_keystore
from consent.receipt_signer import ReceiptSigner

__all__ = [
    "RelayerKeyError",
    "ServiceProvider",
    "Services",
    "check_startup",
    "journal_path",
    "load_relayer_key",
]

logger = logging.getLogger(__name__)


class RelayerKeyError(ValueError):
    """The relayer key file cannot be used (the message never contains key material)."""


def load_relayer_key(path: Path, password: str | None) -> PatientKey:
    """The relayer's key from a hex key file or an encrypted keystore JSON (with `password`)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise RelayerKeyError(f"cannot read relayer key file {path}: {exc.strerror}") from exc
    if text.lstrip().startswith("{"):
        if password is None:
            raise RelayerKeyError(
                f"{path} is a keystore: set CONSENTFL_RELAYER_KEY_PASSWORD to its password"
            )
        try:
            json.loads(text)
            return load_keystore(path, password)
        except (ValueError, ConsentError) as exc:
            raise RelayerKeyError(f"cannot open keystore {path} (wrong password?)") from exc
    try:
        return load_hex_key(path)
    except (ValueError, ConsentError) as exc:
        raise RelayerKeyError(f"{path} is neither a hex private key nor a keystore") from exc


@dataclass(eq=False)
class Services:
    """What the routers need; `relay` is None when no relayer key is configured."""

    ledger: Ledger
    history: ConsentHistory
    relay: RevocationRelay | None = None
    store: ArtifactStore | None = None
    proofs: Path | None = None
    receipt_signer: ReceiptSigner | None = None
    """The relayer's key for signing receipts (`api.receipts`); None: the sender signs."""
    _embedded_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def require_relay(self) -> RevocationRelay:
        """The relay; `RelayerUnavailableError` (503) when no relayer key is configured."""
        if self.relay is None:
            raise RelayerUnavailableError("no relayer key is configured on this server")
        return self.relay

    @classmethod
    def for_ledger(
        cls,
        ledger: Ledger,
        *,
        relayer: Sender | None = None,
        store: ArtifactStore | None = None,
        proofs: Path | None = None,
        journal: Path | None = None,
        receipt_signer: ReceiptSigner | None = None,
        batcher_socket: Path | None = None,
    ) -> Services:
        """Services over an attached ledger; `relayer` pays for relayed revocations, which it
        journals in `journal` until they are mined (and resends from it on restart), and
        `receipt_signer` (holding the relayer's key) signs their receipts. With `batcher_socket`
        (a worker of `consentfl api --workers N`) every relayed transaction is sent by the batcher
        process there (`chain.relay_client`), which journals them; this process only checks."""
        relay: RevocationRelay | None = None
        if relayer is not None and batcher_socket is not None:
            relay = ForwardingRelay(ledger.with_sender(relayer), RemoteBatcher(batcher_socket))
        elif relayer is not None:
            relay = RevocationRelay(
                ledger.with_sender(relayer),
                journal=None if journal is None else RevocationJournal(journal),
            )
        history = ConsentHistory(ledger.consents, ledger.manifest.deploy_block)
        return cls(
            ledger=ledger,
            history=history,
            relay=relay,
            store=store,
            proofs=proofs,
            receipt_signer=receipt_signer,
        )

    @contextmanager
    def session(self) -> Iterator[Services]:
        """Use the services for one request (serialized when the chain lives in-process:
        eth-tester is not thread-safe)."""
        guard = self._embedded_lock if self.ledger.chain.ephemeral else nullcontext()
        with guard:
            yield self


class ServiceProvider:
    """Builds `Services` from settings on first use, or hands out injected ones."""

    def __init__(self, settings: Settings, services: Services | None = None) -> None:
        self.settings = settings
        self._services = services
        self._lock = threading.Lock()

    def get(self) -> Services:
        """The services; raises `ChainUnavailableError` while the chain cannot be reached."""
        if self._services is not None:
            return self._services
        with self._lock:
            if self._services is None:
                self._services = self._build()
            return self._services

    def _build(self) -> Services:
        settings = self.settings
        if settings.deployment is None:
            raise DeploymentError("no deployment manifest configured (CONSENTFL_DEPLOYMENT)")
        ledger = open_ledger(
            settings.rpc,
            settings.deployment,
            timeout=settings.chain_timeout_seconds,
            refuse_ephemeral=False,
        )
        relayer = None
        journal = None
        signer = None
        if settings.relayer_key is not None:
            password = settings.relayer_key_password
            key = load_relayer_key(
                settings.relayer_key, None if password is None else password.get_secret_value()
            )
            relayer = Sender.from_key(ledger.chain, key.private_key, manage_nonces=True)
            signer = ReceiptSigner(key.private_key)
            journal = journal_path(settings)
            logger.info("relaying revocations from %s", key.address)
        ipfs = settings.ipfs or ledger.manifest.ipfs
        store = None if ipfs is None else open_store(ipfs)
        return Services.for_ledger(
            ledger,
            relayer=relayer,
            store=store,
            proofs=settings.proofs,
            journal=journal,
            receipt_signer=signer,
            batcher_socket=settings.relayer_socket,
        )


def journal_path(settings: Settings) -> Path | None:
    """Where the relayer journals accepted revocations (None without a relayer key)."""
    if settings.relayer_key is None:
        return None
    return settings.relayer_journal or settings.relayer_key.with_name(
        settings.relayer_key.name + ".journal.json"
    )


def check_startup(settings: Settings) -> None:
    """Fail fast on configuration a client could never fix (missing manifest, unusable key)."""
    if settings.deployment is None:
        raise DeploymentError("no deployment manifest configured")
    load_manifest(settings.deployment)
    if settings.relayer_key is not None:
        password = settings.relayer_key_password
        load_relayer_key(
            settings.relayer_key, None if password is None else password.get_secret_value()
        )
