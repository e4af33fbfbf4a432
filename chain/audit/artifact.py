"""`artifact`: every model, update and metrics file is in the store, its bytes match its CID, and
their SHA-256 equals the hash on chain (metrics files have a CID on chain, no hash)."""

from __future__ import annotations

import hashlib
from typing import Final

from chain.audit.check import hexed
from chain.audit.report import AuditCheck
from chain.audit.view import AuditView
from chain.store import (
    ArtifactNotFoundError,
    ArtifactReader,
    CorruptArtifactError,
    InvalidCidError,
    compute_cid,
    parse_cid,
)
from consent.ids import Address, Bytes32
from consent.rounds import RoundState

__all__ = ["Artifacts"]


class Artifacts:
    """One check per artifact named on chain: round 0's base, each update, model and metrics."""

    name: Final = "artifact"

    def run(self, view: AuditView) -> list[AuditCheck]:
        """See the module docstring; `StoreUnavailableError` (node down) is raised."""
        checks: list[AuditCheck] = []
        store = view.artifacts
        for round_ in view.rounds:
            r = round_.round
            if r == 0:
                checks.append(
                    self._one(
                        store, r, None, "base model", round_.base_model_cid, round_.base_model_hash
                    )
                )
            for update in view.updates(r):
                checks.append(
                    self._one(
                        store, r, update.hospital, "update", update.update_cid, update.update_hash
                    )
                )
            if round_.state is RoundState.FINALIZED:
                checks.append(
                    self._one(store, r, None, "model", round_.model_cid, round_.model_hash)
                )
                if round_.metrics_cid:
                    checks.append(self._one(store, r, None, "metrics", round_.metrics_cid, None))
        return checks

    def _one(
        self,
        store: ArtifactReader,
        round_: int,
        hospital: Address | None,
        what: str,
        cid: str,
        sha256: Bytes32 | None,
    ) -> AuditCheck:
        def result(passed: bool, detail: str) -> AuditCheck:
            return AuditCheck(self.name, passed, f"{what} {cid}", detail, round_, hospital)

        try:
            data = store.get(cid)
        except ArtifactNotFoundError as exc:
            return result(False, f"missing from the store: {exc}")
        except CorruptArtifactError as exc:
            return result(False, f"bytes do not match the CID: {exc.reason}")
        except InvalidCidError as exc:
            return result(False, f"CID on chain is not usable: {exc.reason}")
        # The store verifies what it returns; recomputing keeps the auditor independent of it.
        if compute_cid(data) != str(parse_cid(cid)):
            return result(False, "bytes do not hash to the CID on chain")
        if sha256 is not None:
            digest = hashlib.sha256(data).digest()
            if digest != bytes(sha256):
                return result(
                    False, f"SHA-256 {hexed(digest)} differs from the chain's {hexed(sha256)}"
                )
        shown = "CID" if sha256 is None else "CID and SHA-256"
        return result(True, f"{len(data)} bytes match the {shown} on chain")
