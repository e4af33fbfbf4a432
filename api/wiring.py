"""The one wiring recipe of `api/`: deployment manifest + RPC URL + key -> attached `Ledger`
(`open_ledger`), `--ipfs URL|DIR` or the manifest's store -> artifact store (`open_artifacts`),
and on top of them the trainer and aggregator processes' adapters (`wire_role`) and a hospital's
persisted consent index with its chain view.

The manifest records the RPC and IPFS URLs it was deployed with; an explicit `--rpc` / `--ipfs`
(or `CONSENTFL_RPC` / `CONSENTFL_IPFS`) overrides them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from api.defaults import DEFAULT_RPC
from chain.connection import ETH_TESTER_CHAIN_ID, connect
from chain.deploy import Ledger, attach
from chain.manifest import Manifest, load_manifest
from chain.store import ArtifactStore, open_store
from chain.transactions import Sender
from consent.errors import KeystoreError
from consent.keys import PatientKey, load_hex_key
from consent.private_file import write_private_file
from consent.sealing import generate_keypair, load_private_key, private_key_bytes

if TYPE_CHECKING:  # the audit checks and the roles' adapters load scikit-learn and torch
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    from chain.audit import Check
    from chain.consent_view import ChainConsentView
    from chain.ledger import ChainLedger

__all__ = [
    "DEFAULT_RPC",
    "NoStoreConfiguredError",
    "RoleWiring",
    "default_audit_checks",
    "load_seal_key",
    "new_seal_key",
    "open_artifacts",
    "open_ledger",
    "wire_role",
]


class NoStoreConfiguredError(ValueError):
    """No `--ipfs` was given and the deployment manifest records no store."""


def open_ledger(
    rpc: str | None,
    deployment: Path,
    key: Path | PatientKey | None = None,
    *,
    timeout: float = 10.0,
    refuse_ephemeral: bool = True,
) -> Ledger:
    """The deployment's facades on `rpc` (default: the manifest's RPC, then `DEFAULT_RPC`),
    sending as `key` (a hex key file or a loaded key; read-only if None).

    Checks the chain id and the contract code. With `refuse_ephemeral` (the CLI) a manifest of an
    in-process eth-tester chain, which ended with the process that deployed it, is refused before
    connecting; the web API instead keeps answering 503 until the configured node answers.
    """
    manifest = load_manifest(deployment)
    if refuse_ephemeral and manifest.chain_id == ETH_TESTER_CHAIN_ID:
        raise ValueError(
            f"{deployment} was deployed on an in-process eth-tester chain, which ended with the "
            "process that made it; deploy on a node (`consentfl dev up`, --rpc URL) to use it "
            "from other commands"
        )
    url = rpc or manifest.rpc or DEFAULT_RPC
    chain = connect(url, expected_chain_id=manifest.chain_id, timeout=timeout)
    sender = None
    if key is not None:
        loaded = load_hex_key(key) if isinstance(key, Path) else key
        sender = Sender.from_key(chain, loaded.private_key)
    return attach(chain, manifest, sender)


def open_artifacts(ipfs: str | None, manifest: Manifest) -> ArtifactStore:
    """The store at `ipfs`, else the one the manifest records."""
    location = ipfs or manifest.ipfs
    if location is None:
        raise NoStoreConfiguredError(
            "no --ipfs given and the deployment manifest records no artifact store"
        )
    return open_store(location)


@dataclass(frozen=True, eq=False, slots=True)
class RoleWiring:
    """What a role process needs: its ledger view, the store and the raw facades."""

    ledger: Ledger
    port: ChainLedger
    store: ArtifactStore


def wire_role(rpc: str | None, deployment: Path, key: Path, ipfs: str | None) -> RoleWiring:
    """`open_ledger` sending as `key`, and `open_artifacts` (both defaulting to the manifest)."""
    from chain.ledger import ChainLedger

    ledger = open_ledger(rpc, deployment, key)
    return RoleWiring(ledger, ChainLedger(ledger), open_artifacts(ipfs, ledger.manifest))


def consent_view(wiring: RoleWiring, state_dir: Path) -> ChainConsentView:
    """The hospital's persisted consent index under `state_dir`, synced from the chain."""
    from chain.consent_view import ChainConsentView
    from consent.index import ConsentIndex

    state_dir.mkdir(parents=True, exist_ok=True)
    index = ConsentIndex(state_dir / "consent-index.sqlite")
    return ChainConsentView(
        wiring.ledger.consents, index, from_block=wiring.ledger.manifest.deploy_block
    )


def new_seal_key(path: Path) -> bytes:
    """Create the aggregator's X25519 key file (hex, mode 0600); returns the raw public key."""
    pair = generate_keypair()
    text = "0x" + private_key_bytes(pair.private_key).hex() + "\n"
    write_private_file(path, text.encode(), overwrite=False)
    return bytes(pair.public_key)


def load_seal_key(path: Path) -> X25519PrivateKey:
    """The aggregator's X25519 private key from a file written by `new_seal_key`."""
    try:
        text = path.read_text().strip().removeprefix("0x")
        return load_private_key(bytes.fromhex(text))
    except (ValueError, UnicodeDecodeError) as exc:
        raise KeystoreError(path, "not an X25519 key file (0x + 64 hex digits)") from exc


def default_audit_checks() -> tuple[Check, ...]:
    """Every audit check, the privacy-budget one with Opacus' RDP accountant (`fl.privacy`)."""
    from chain.audit import DEFAULT_CHECKS
    from chain.audit.privacy import PrivacyBudget
    from fl.privacy import rdp_increment

    return tuple(
        PrivacyBudget(rdp_increment) if check.name == PrivacyBudget.name else check
        for check in DEFAULT_CHECKS
    )
