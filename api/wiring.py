"""Build the real adapters for the trainer and aggregator processes from command-line options:
deployment manifest + RPC URL + key file -> `ChainLedger`; `--ipfs URL|DIR` -> artifact store;
a state directory -> the persisted consent index and its chain view."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from api.adapters import ChainLedger
from chain.connection import connect
from chain.consent_view import ChainConsentView
from chain.deploy import Ledger, attach
from chain.manifest import load_manifest
from chain.store import ArtifactStore, open_store
from chain.transactions import Sender
from consent.errors import KeystoreError
from consent.index import ConsentIndex
from consent.keys import load_hex_key
from consent.private_file import write_private_file
from consent.sealing import generate_keypair, load_private_key, private_key_bytes

__all__ = ["RoleWiring", "load_seal_key", "new_seal_key", "wire_role"]


@dataclass(frozen=True, eq=False, slots=True)
class RoleWiring:
    """What a role process needs: its ledger view, the store and the raw facades."""

    ledger: Ledger
    port: ChainLedger
    store: ArtifactStore


def wire_role(rpc: str, deployment: Path, key: Path, ipfs: str) -> RoleWiring:
    """Connect to `rpc`, attach the deployment (checking chain id and code), send as `key`."""
    manifest = load_manifest(deployment)
    chain = connect(rpc, expected_chain_id=manifest.chain_id)
    sender = Sender.from_key(chain, load_hex_key(key).private_key)
    ledger = attach(chain, manifest, sender)
    return RoleWiring(ledger, ChainLedger(ledger), open_store(ipfs))


def consent_view(wiring: RoleWiring, state_dir: Path) -> ChainConsentView:
    """The hospital's persisted consent index under `state_dir`, synced from the chain."""
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
