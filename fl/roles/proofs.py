"""Exclusion proofs: a hospital shows that a revoked patient is absent from its later data roots.

A consent whose DUO purposes do not cover the study's purpose is treated like a revocation.

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
from collections.abc import Iterable, Sequence
from pathlib import Path

from consent.events import ConsentEvent, ConsentGranted, ConsentRevoked, PurposesRevoked
from consent.formats.exclusion_proof import PROOF_FORMAT, ExclusionProof
from consent.ids import Address, StudyId, parse_address
from consent.purposes import GRU_BIT, StudyPurpose
from consent.smt import DataTree
from fl.ports import ConsentViewPort
from fl.roles.records import RoundUsage, write_json_atomic

__all__ = [
    "PROOF_FORMAT",
    "ExclusionProof",
    "exclusion_proofs_for",
    "lineage_proofs_for",
    "patients_needing_proofs",
    "proofs_for",
    "write_proof_files",
]

logger = logging.getLogger(__name__)


def _covers(purpose: StudyPurpose | None, mask: int) -> bool:
    return purpose is None or purpose.covers_mask(mask)


def _revocation_windows(
    events: Sequence[ConsentEvent],
    hospital: Address,
    purpose: StudyPurpose | None = None,
) -> list[tuple[int, int | None]]:
    """[revoked_block, next covering grant to `hospital`) for each revocation of a consent given
    to `hospital`. A grant to another hospital (the patient moved) does not end the window: the
    old hospital must keep leaving the patient out, and the auditor asks it to prove so.

    A consent that does not cover the study's `purpose` counts like a revocation from its block:
    a grant whose DUO purposes do not cover it, or a withdrawal of purposes leaving none that do.

    A grant with an expiry (or a later start of validity) opens a window too (expiry counts like
    revocation): the auditor asks for a proof for every update that landed outside the validity
    period; the trainer proves absence from every later update the patient is absent from (an
    extra proof is harmless)."""
    windows: list[tuple[int, int | None]] = []  # from the patient's `events`, oldest first
    for event in events:
        if event.hospital != hospital:
            continue
        block = event.position.block_number
        if isinstance(event, PurposesRevoked) and _covers(purpose, event.remaining):
            continue
        if windows and windows[-1][1] is None:
            windows[-1] = (windows[-1][0], block)
        if isinstance(event, ConsentRevoked | PurposesRevoked):
            windows.append((block, None))
        elif not _covers(purpose, event.purposes):
            windows.append((block, None))  # a grant that does not cover the study: a revocation
        elif event.expires_at or event.valid_from:
            windows.append((-block, None))  # negative start: an expiry window, see below
    return windows


def exclusion_proofs_for(
    index: ConsentViewPort,
    study: StudyId,
    patient: str,
    usages: Iterable[RoundUsage],
    purpose: StudyPurpose | None = None,
) -> list[ExclusionProof]:
    """Proofs for every usage whose consent block falls in one of the patient's revocation
    windows. A usage that does contain the patient cannot be proven and is logged as an error
    (the auditor will find the proof missing)."""
    address = parse_address(patient)
    events = index.history(study, address)
    return _exclusion_proofs(study, address, events, list(usages), purpose, {})


def _exclusion_proofs(
    study: StudyId,
    address: Address,
    events: Sequence[ConsentEvent],
    usages: list[RoundUsage],
    purpose: StudyPurpose | None,
    trees: dict[int, DataTree],
) -> list[ExclusionProof]:
    """`exclusion_proofs_for` from the patient's `events`; `trees` caches each usage's tree by
    `id(usage)` (shared by the patients of one `proofs_for` call)."""
    proofs: list[ExclusionProof] = []
    by_hospital: dict[Address, list[RoundUsage]] = {}
    for usage in usages:
        by_hospital.setdefault(usage.hospital, []).append(usage)
    for hospital, own in by_hospital.items():
        for start, end in _revocation_windows(events, hospital, purpose):
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


def lineage_proofs_for(
    index: ConsentViewPort,
    study: StudyId,
    patient: str,
    usages: Iterable[RoundUsage],
    already: Iterable[ExclusionProof] = (),
) -> list[ExclusionProof]:
    """`unlearn` studies (issue 16): proofs that a revoked `patient` is absent from every usage
    of a hospital it revoked at, before the revocation too (not in `already`), so the auditor's
    `lineage` check can verify every round of the head model's lineage. A usage that holds the
    patient cannot be proven: the aggregator's rollback takes it out of the lineage."""
    address = parse_address(patient)
    events = index.history(study, address)
    return _lineage_proofs(study, address, events, list(usages), already, {})


def _lineage_proofs(
    study: StudyId,
    address: Address,
    events: Sequence[ConsentEvent],
    usages: list[RoundUsage],
    already: Iterable[ExclusionProof],
    trees: dict[int, DataTree],
) -> list[ExclusionProof]:
    """`lineage_proofs_for` from the patient's `events` (`trees`: as in `_exclusion_proofs`)."""
    revoked = {e.hospital: e.position.block_number for e in events if isinstance(e, ConsentRevoked)}
    done = {(p.hospital, p.round) for p in already}
    proofs: list[ExclusionProof] = []
    for usage in usages:
        block = revoked.get(usage.hospital)
        if block is None or (usage.hospital, usage.round) in done:
            continue
        if id(usage) not in trees:
            trees[id(usage)] = DataTree.build(usage.patients)
        tree = trees[id(usage)]
        if address in tree:
            continue
        proofs.append(
            ExclusionProof(
                study=study,
                hospital=usage.hospital,
                round=usage.round,
                patient=address,
                revoked_block=block,
                consent_block=usage.consent_block,
                data_root=usage.data_root,
                proof=tree.non_membership_proof(address),
            )
        )
    return proofs


def proofs_for(
    index: ConsentViewPort,
    study: StudyId,
    patients: Sequence[str],
    usages: Iterable[RoundUsage],
    purpose: StudyPurpose | None = None,
    unlearns: bool = False,
) -> list[ExclusionProof]:
    """`exclusion_proofs_for` each of `patients` in turn, followed (in an `unlearn` study) by its
    `lineage_proofs_for`, with the patients' histories read at once (`ConsentViewPort.histories`)
    and each usage's tree built once for all of them."""
    usages = list(usages)
    addresses = [parse_address(p) for p in patients]
    histories = index.histories(study, addresses)
    trees: dict[int, DataTree] = {}
    proofs: list[ExclusionProof] = []
    for address in addresses:
        events = histories[address]
        found = _exclusion_proofs(study, address, events, usages, purpose, trees)
        if unlearns:
            found += _lineage_proofs(study, address, events, usages, found, trees)
        proofs += found
    return proofs


def write_proof_files(out_dir: Path, proofs: Iterable[ExclusionProof]) -> list[Path]:
    """Write each proof to `out_dir/<study>/<hospital>/<round>/<patient>.json`."""
    written: list[Path] = []
    for proof in proofs:
        path = Path(out_dir) / proof.relative_path()
        write_json_atomic(path, proof.to_json_dict())
        written.append(path)
    return written


def patients_needing_proofs(index: ConsentViewPort, study: StudyId, hospital: Address) -> list[str]:
    """`hospital`'s patients who need exclusion proofs: every revoked one, and every one whose
    consent with it carries a validity period or was granted or narrowed to specific purposes
    (their coverage can end without a revocation)."""
    revoked = set(index.revoked_since(study, hospital, -1))
    histories = index.histories(study, index.patients(study, hospital))  # one read, not one each
    scoped = {
        e.patient
        for events in histories.values()
        for e in events
        if isinstance(e, ConsentGranted) and e.hospital == hospital
        and (e.expires_at or e.valid_from or e.purposes != GRU_BIT)
    }  # fmt: skip
    return sorted(revoked | scoped)
