"""Exclusion proofs: a hospital shows that a revoked patient is absent from its later data roots.

For every revocation of a consent given to the hospital (block `revoked_block`), every update the
hospital submitted with `revoked_block <= consent_block` (its consent view already included the
revocation), up to a later re-grant to the same hospital, must leave the patient out of its
`dataRoot` (a grant to another hospital does not end the window). The hospital
proves it with a sorted-Merkle non-membership proof (`consent.merkle`).

Proof files, consumed by the auditor, one per (round, patient)::

    <proofs_dir>/<study>/<hospital>/<round>/<patient>.json

    <study> is "0x" + 64 lowercase hex digits; <hospital> and <patient> are checksummed addresses.

    {
      "format": "consentfl.exclusion-proof/1",
      "study": "0x<64 hex>",
      "hospital": "0x<checksummed>",
      "round": 4,
      "patient": "0x<checksummed>",
      "revoked_block": 118,          # the revocation this proof answers for
      "consent_block": 120,          # the update's consentBlock on chain (>= revoked_block)
      "data_root": "0x<64 hex>",     # the update's dataRoot on chain
      "proof": {                     # consent.merkle.NonMembershipProof.to_json()
        "left":  {"index": 7, "patient": "0x...", "siblings": ["0x<64 hex>", ...]},
        "right": {"index": 8, "patient": "0x...", "siblings": ["0x<64 hex>", ...]}
      }
    }

An auditor checks: the round's update of `hospital` on chain has this `data_root` and
`consent_block`; `revoked_block <= consent_block` matches the patient's `ConsentRevoked` event;
and `consent.merkle.verify_non_membership(data_root, patient, proof)` (or, per half, the
contract's `RoundLedger.verifyDataLeaf`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from consent.events import ConsentGranted, ConsentRevoked
from consent.ids import Address, Bytes32, StudyId, parse_address
from consent.index import ConsentIndex
from consent.merkle import DataTree, NonMembershipProof
from fl.roles.records import RoundUsage, write_json_atomic

__all__ = ["PROOF_FORMAT", "ExclusionProof", "exclusion_proofs_for", "write_proof_files"]

logger = logging.getLogger(__name__)

PROOF_FORMAT: Final = "consentfl.exclusion-proof/1"


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
    proof: NonMembershipProof

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
        }

    def relative_path(self) -> Path:
        """`<study>/<hospital>/<round>/<patient>.json`."""
        study = "0x" + bytes(self.study).hex()
        return Path(study) / self.hospital / str(self.round) / f"{self.patient}.json"


def _revocation_windows(
    index: ConsentIndex, study: StudyId, patient: Address, hospital: Address
) -> list[tuple[int, int | None]]:
    """[revoked_block, next grant to `hospital`) for each revocation of a consent given to
    `hospital`. A grant to another hospital (the patient moved) does not end the window: the old
    hospital must keep leaving the patient out, and the auditor asks it to prove so."""
    windows: list[tuple[int, int | None]] = []
    for event in index.history(study, patient):
        block = event.position.block_number
        if isinstance(event, ConsentRevoked) and event.hospital == hospital:
            windows.append((block, None))
        elif (
            isinstance(event, ConsentGranted)
            and event.hospital == hospital
            and windows
            and windows[-1][1] is None
        ):
            windows[-1] = (windows[-1][0], block)
    return windows


def exclusion_proofs_for(
    index: ConsentIndex, study: StudyId, patient: str, usages: Iterable[RoundUsage]
) -> list[ExclusionProof]:
    """Proofs for every usage whose consent block falls in one of the patient's revocation
    windows. A usage that does contain the patient cannot be proven and is logged as an error
    (the auditor will find the proof missing)."""
    address = parse_address(patient)
    proofs: list[ExclusionProof] = []
    by_hospital: dict[Address, list[RoundUsage]] = {}
    for usage in usages:
        by_hospital.setdefault(usage.hospital, []).append(usage)
    trees: dict[int, DataTree] = {}
    for hospital, own in by_hospital.items():
        for start, end in _revocation_windows(index, study, address, hospital):
            for usage in sorted(own, key=lambda u: u.round):
                if not (
                    start <= usage.consent_block and (end is None or usage.consent_block < end)
                ):
                    continue
                if id(usage) not in trees:
                    trees[id(usage)] = DataTree.build(usage.patients)
                tree = trees[id(usage)]
                if address in tree:
                    logger.error("round %d: revoked patient is in the committed set", usage.round)
                    continue
                proofs.append(
                    ExclusionProof(
                        study=study,
                        hospital=hospital,
                        round=usage.round,
                        patient=address,
                        revoked_block=start,
                        consent_block=usage.consent_block,
                        data_root=usage.data_root,
                        proof=tree.non_membership_proof(address),
                    )
                )
    return proofs


def write_proof_files(out_dir: Path, proofs: Iterable[ExclusionProof]) -> list[Path]:
    """Write each proof to `out_dir/<study>/<hospital>/<round>/<patient>.json`."""
    written: list[Path] = []
    for proof in proofs:
        path = Path(out_dir) / proof.relative_path()
        write_json_atomic(path, proof.to_json_dict())
        written.append(path)
    return written
