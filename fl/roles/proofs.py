"""Exclusion proofs: a hospital shows that a revoked patient is absent from its later data roots.

For every revocation of a consent given to the hospital (block `revoked_block`), every update the
hospital submitted with `revoked_block <= consent_block` (its consent view already included the
revocation), up to a later re-grant to the same hospital, must leave the patient out of its
`dataRoot` (a grant to another hospital does not end the window). The hospital
proves it with a sparse-Merkle non-membership proof (`consent.smt`), bound to the patient's
position in the tree, so it holds whoever built the tree.

The proof file format (`consent.formats.exclusion_proof`) is shared with the auditor's reader
(`chain.exclusions`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from consent.events import ConsentGranted, ConsentRevoked
from consent.formats.exclusion_proof import PROOF_FORMAT, ExclusionProof
from consent.ids import Address, StudyId, parse_address
from consent.smt import DataTree
from fl.ports import ConsentViewPort
from fl.roles.records import RoundUsage, write_json_atomic

__all__ = ["PROOF_FORMAT", "ExclusionProof", "exclusion_proofs_for", "write_proof_files"]

logger = logging.getLogger(__name__)


def _revocation_windows(
    index: ConsentViewPort, study: StudyId, patient: Address, hospital: Address
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
    index: ConsentViewPort, study: StudyId, patient: str, usages: Iterable[RoundUsage]
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
