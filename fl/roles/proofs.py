"""Exclusion proofs: a hospital shows that a revoked patient is absent from its later data roots.

For every revocation of a consent given to the hospital (block `revoked_block`), every update the
hospital submitted with `revoked_block <= consent_block` (its consent view already included the
revocation), up to a later re-grant to the same hospital, must leave the patient out of its
`dataRoot` (a grant to another hospital does not end the window). The hospital
proves it with a sparse-Merkle non-membership proof (`consent.smt`), bound to the patient's
position in the tree, so it holds whoever built the tree.

Proof files, consumed by the auditor, one per (round, patient)::

    <proofs_dir>/<study>/<hospital>/<round>/<patient>.json

    <study> is "0x" + 64 lowercase hex digits; <hospital> and <patient> are checksummed addresses.

    {
      "format": "consentfl.exclusion-proof/2",
      "study": "0x<64 hex>",
      "hospital": "0x<checksummed>",
      "round": 4,
      "patient": "0x<checksummed>",
      "revoked_block": 118,          # the revocation this proof answers for
      "consent_block": 120,          # the update's consentBlock on chain (>= revoked_block)
      "data_root": "0x<64 hex>",     # the update's dataRoot on chain
      "proof": {                     # consent.smt.SmtProof.to_json()
        "patient": "0x...", "depth": 21, "bitmap": "0x1f3a...",
        "siblings": ["0x<64 hex>", ...],            # the non-empty ones, deepest first
        "occupant": "0x..." | null                  # the leaf met instead of the patient's
      }
    }

An auditor checks: the round's update of `hospital` on chain has this `data_root` and
`consent_block`; `revoked_block <= consent_block` matches the patient's `ConsentRevoked` event;
and `consent.smt.verify_non_membership(data_root, patient, proof)` (or the contract's
`RoundLedger.verifyDataNonMembership`).
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
from consent.smt import DataTree, SmtProof
from fl.roles.records import RoundUsage, write_json_atomic

__all__ = ["PROOF_FORMAT", "ExclusionProof", "exclusion_proofs_for", "write_proof_files"]

logger = logging.getLogger(__name__)

PROOF_FORMAT: Final = "consentfl.exclusion-proof/2"


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
    hospital must keep leaving the patient out, and the auditor asks it to prove so.

    A grant with an expiry opens a window too (expiry counts like revocation): the auditor asks
    for a proof for every update that landed after `expiresAt`; the trainer proves absence from
    every later update the patient is absent from (an extra proof is harmless)."""
    windows: list[tuple[int, int | None]] = []
    for event in index.history(study, patient):
        block = event.position.block_number
        if isinstance(event, ConsentGranted) and event.hospital == hospital and event.expires_at:
            if windows and windows[-1][1] is None:
                windows[-1] = (windows[-1][0], block)
            windows.append((-block, None))  # negative start: an expiry window, see below
        elif isinstance(event, ConsentRevoked) and event.hospital == hospital:
            if windows and windows[-1][1] is None and windows[-1][0] < 0:
                windows[-1] = (windows[-1][0], block)
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
            expiry, start = start < 0, abs(start)
            for usage in sorted(own, key=lambda u: u.round):
                if not (
                    start <= usage.consent_block and (end is None or usage.consent_block < end)
                ):
                    continue
                if id(usage) not in trees:
                    trees[id(usage)] = DataTree.build(usage.patients)
                tree = trees[id(usage)]
                if address in tree:
                    if not expiry:  # before its expiry, a patient may be in the set
                        logger.error(
                            "round %d: revoked patient is in the committed set", usage.round
                        )
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
