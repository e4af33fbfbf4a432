"""The deployment manifest: where the contracts live and which artifacts they came from."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

from chain.errors import DeploymentError
from consent.ids import Address, InvalidIdentifierError, parse_address

__all__ = ["MANIFEST_VERSION", "Manifest", "load_manifest", "save_manifest"]

MANIFEST_VERSION: Final = 1


@dataclass(frozen=True, slots=True)
class Manifest:
    """A completed deployment of StudyRegistry, ConsentRegistry, RoundLedger (and PrivacyBudget,
    SecAggCoordinator and, since issue 18, DatasetInventory)."""

    chain_id: int
    study_registry: Address
    consent_registry: Address
    round_ledger: Address
    deploy_block: int
    deployer: Address
    artifact_sha256: dict[str, str]
    version: int = MANIFEST_VERSION
    rpc: str | None = None
    """The JSON-RPC URL it was deployed through (commands use it unless given `--rpc`)."""
    ipfs: str | None = None
    """The artifact store named at deployment (commands use it unless given `--ipfs`)."""
    secagg_coordinator: Address | None = None
    """The SecAggCoordinator (privacy mode "secagg"); None in deployments made before it."""
    privacy_budget: Address | None = None
    """The PrivacyBudget contract (absent from manifests written before dp mode)."""
    contributions: Address | None = None
    """The Contributions contract (issue 15); None in a deployment made before it existed."""
    dataset_inventory: Address | None = None
    """The DatasetInventory gating admission (None in manifests written before issue 18)."""
    rollbacks: Address | None = None
    """The Rollbacks contract of `unlearn` studies (None in manifests written before issue 16)."""

    def addresses(self) -> dict[str, Address]:
        """Contract name -> address."""
        found = {
            "StudyRegistry": self.study_registry,
            "ConsentRegistry": self.consent_registry,
            "RoundLedger": self.round_ledger,
        }
        if self.secagg_coordinator is not None:
            found["SecAggCoordinator"] = self.secagg_coordinator
        if self.privacy_budget is not None:
            found["PrivacyBudget"] = self.privacy_budget
        if self.contributions is not None:
            found["Contributions"] = self.contributions
        if self.dataset_inventory is not None:
            found["DatasetInventory"] = self.dataset_inventory
        if self.rollbacks is not None:
            found["Rollbacks"] = self.rollbacks
        return found

    def to_json(self) -> str:
        """The manifest as JSON."""
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        """Parse and validate a manifest; raises `DeploymentError` if it is malformed."""
        try:
            body: dict[str, Any] = json.loads(text)
            if body.get("version") != MANIFEST_VERSION:
                raise DeploymentError(f"unsupported manifest version {body.get('version')!r}")
            return cls(
                chain_id=int(body["chain_id"]),
                study_registry=parse_address(body["study_registry"]),
                consent_registry=parse_address(body["consent_registry"]),
                round_ledger=parse_address(body["round_ledger"]),
                deploy_block=int(body["deploy_block"]),
                deployer=parse_address(body["deployer"]),
                artifact_sha256={str(k): str(v) for k, v in body["artifact_sha256"].items()},
                rpc=_optional_text(body, "rpc"),
                ipfs=_optional_text(body, "ipfs"),
                secagg_coordinator=(
                    parse_address(body["secagg_coordinator"])
                    if body.get("secagg_coordinator")
                    else None
                ),
                privacy_budget=_optional_address(body, "privacy_budget"),
                contributions=(
                    None
                    if body.get("contributions") is None
                    else parse_address(body["contributions"])
                ),
                dataset_inventory=_optional_address(body, "dataset_inventory"),
                rollbacks=_optional_address(body, "rollbacks"),
            )
        except (KeyError, TypeError, ValueError, AttributeError, InvalidIdentifierError) as exc:
            if isinstance(exc, DeploymentError):
                raise
            raise DeploymentError(f"malformed deployment manifest: {exc}") from exc


def _optional_text(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise DeploymentError(f"malformed deployment manifest: {key} is not a string")
    return value or None


def _optional_address(body: dict[str, Any], key: str) -> Address | None:
    value = body.get(key)
    return None if value is None else parse_address(value)


def save_manifest(manifest: Manifest, path: Path) -> None:
    """Write `manifest` to `path` atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(manifest.to_json())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_manifest(path: Path) -> Manifest:
    """Read a manifest written by `save_manifest`."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise DeploymentError(f"cannot read deployment manifest {path}: {exc}") from exc
    return Manifest.from_json(text)
