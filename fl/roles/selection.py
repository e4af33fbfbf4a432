"""Consent filtering of a hospital's rows at one block, with the reason for every dropped row.

Consent is decided by the consent view (`fl.ports.ConsentViewPort`, the index behind it) by the
contract's rules (granted at or before the block, not revoked, not expired), restricted to
patients whose consent record is with this hospital. Rows of patients the view has never seen
in the study are dropped as `UNKNOWN` and reported: the hospital holds data of someone it never
enrolled, which the trainer logs as an error.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from consent.events import ConsentGranted, ConsentRevoked
from consent.ids import Address, StudyId
from fl.data import HospitalDataset
from fl.ports import ConsentViewPort
from fl.roles.records import DropReason

__all__ = ["Selection", "select_rows"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False, slots=True)
class Selection:
    """The rows a round may use at `block`, and the dropped ones grouped by reason."""

    block: int
    rows: npt.NDArray[np.bool_]
    patients: tuple[Address, ...]
    """Distinct patients of the kept rows, ascending by address value."""
    dropped_rows: dict[DropReason, int]
    dropped_patients: dict[DropReason, tuple[Address, ...]]

    @property
    def num_rows(self) -> int:
        return int(self.rows.sum())


def _reason(
    index: ConsentViewPort, study: StudyId, hospital: Address, patient: Address, block: int, ts: int
) -> DropReason:
    prior = [e for e in index.history(study, patient) if e.position.block_number <= block]
    if not prior:
        return DropReason.NOT_CONSENTED
    last = prior[-1]
    if isinstance(last, ConsentRevoked):
        return DropReason.REVOKED if last.hospital == hospital else DropReason.NOT_CONSENTED
    assert isinstance(last, ConsentGranted)  # narrowing: the two event kinds
    if last.hospital != hospital:
        return DropReason.NOT_CONSENTED
    if last.expires_at and ts >= last.expires_at:
        return DropReason.EXPIRED
    return DropReason.NOT_CONSENTED  # pragma: no cover - consented rows never reach here


def select_rows(
    index: ConsentViewPort,
    study: StudyId,
    hospital: Address,
    dataset: HospitalDataset,
    block: int,
    block_timestamp: int,
) -> Selection:
    """Which rows of `dataset` the hospital may train on at `block` (the index must be synced
    through `block`; the trainer always passes the block it just synced to)."""
    distinct = sorted(dataset.distinct_patients(), key=lambda a: int(a, 16))
    mask = index.mask(study, distinct, block, block_timestamp)
    mine = set(index.patients(study, hospital))
    allowed: set[Address] = set()
    dropped: dict[DropReason, list[Address]] = {}
    for i, patient in enumerate(distinct):
        if mask.unknown[i]:
            reason = DropReason.UNKNOWN
        elif mask.consented[i] and patient in mine:
            allowed.add(patient)
            continue
        else:
            reason = _reason(index, study, hospital, patient, block, block_timestamp)
        dropped.setdefault(reason, []).append(patient)
    rows_per_patient = Counter(dataset.patients)
    if DropReason.UNKNOWN in dropped:
        logger.error(
            "%d patient(s) in the data have no consent event in the study: their rows are refused",
            len(dropped[DropReason.UNKNOWN]),
        )
    return Selection(
        block=block,
        rows=dataset.patient_mask(allowed),
        patients=tuple(p for p in distinct if p in allowed),
        dropped_rows={r: sum(rows_per_patient[p] for p in ps) for r, ps in dropped.items()},
        dropped_patients={r: tuple(ps) for r, ps in dropped.items()},
    )
