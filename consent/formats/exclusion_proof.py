"""The exclusion proof file: a hospital shows that a revoked patient is absent from a data root.

Written by the trainer (`fl.roles.proofs`), read by the audit (`chain.exclusions`). One file per
(round, patient)::

    <proofs_dir>/<study>/<hospital>/<round>/<patient>.json

    <study> is "0x" + 64 lowercase hex digits; <hospital> and <patient> are checksummed addresses.

    {
      "format": "consentfl.exclusion-proof/2",
      "study": "0x<64 hex>",
      "hospital": "0x<checksummed>",
      "round": 4,
      "patient": "0x<checksummed>",
      "revoked_block": 118,          # the revocation this proof answers for
      "consent_block": 120,          # the update's consentBlock on chain (>= revoked_block,
                                     # except lineage proofs of unlearn studies, issue 16)
      "data_root": "0x<64 hex>",     # the update's dataRoot on chain
      "proof": {                     # consent.smt.SmtProof.to_json()
        "patient": "0x...", "depth": 21, "bitmap": "0x1f3a...",
        "siblings": ["0x<64 hex>", ...],            # the non-empty ones, deepest first
        "occupant": "0x..." | null                  # the leaf met instead of the patient's
      },
      "extensions": {}               # ignored by readers that do not know a key
    }

An auditor checks: the round's update of `hospital` on chain has this `data_root` and
`consent_block`; `revoked_block <= consent_block` matches the patient's `ConsentRevoked` event;
and `consent.smt.verify_non_membership(data_root, patient, proof)` (or the contract's
`RoundLedger.verifyDataNonMembership`). Version 1 (sorted-Merkle proofs, `consent.merkle`) is no
longer read: its trees are gone with issue 11's sparse Merkle tree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from consent.formats._document import Family
from consent.ids import Address, Bytes32, StudyId
from consent.smt import SmtProof

__all__ = ["PROOF", "PROOF_FORMAT", "ExclusionProof"]

PROOF: Final = Family("consentfl.exclusion-proof", (2,))
PROOF_FORMAT: Final = PROOF.latest


@dataclass(frozen=True, slots=True)
class ExclusionProof:
    """`patient` is not among the leaves of the hospital's `data_root` in `round`."""

    study: StudyId
    hospital: Address
    round: int
    patient: Address
    revoked_block: int
    consent_block: int
    data_root: Bytes32
    proof: SmtProof
    extensions: Mapping[str, Any] = field(default_factory=dict)

    def to_json_dict(self) -> dict[str, Any]:
        """The file body (see the module docstring)."""
        return {
            "format": PROOF_FORMAT,
            "study": "0x" + bytes(self.study).hex(),
            "hospital": self.hospital,
            "round": self.round,
            "patient": self.patient,
            "revoked_block": self.revoked_block,
            "consent_block": self.consent_block,
            "data_root": "0x" + bytes(self.data_root).hex(),
            "proof": self.proof.to_json(),
            "extensions": dict(self.extensions),
        }

    def relative_path(self) -> Path:
        """`<study>/<hospital>/<round>/<patient>.json`."""
        study = "0x" + bytes(self.study).hex()
        return Path(study) / self.hospital / str(self.round) / f"{self.patient}.json"
