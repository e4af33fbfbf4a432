"""Consent filtering of a hospital's rows at one block, with the reason for every dropped row.

Consent is decided by the consent view (`fl.ports.ConsentViewPort`, the index behind it) by the
contract's rules (granted at or before the block, not revoked, inside its validity period, its
DUO purposes covering the study's declared purpose), restricted to
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

from consent.events import ConsentEvent, ConsentGranted, ConsentRevoked, PurposesRevoked
from consent.ids import Address, StudyId, parse_address
from consent.purposes import StudyPurpose
from fl.data import HospitalDataset
from fl.ports import ConsentViewPort, HeadedConsentViewPort, LedgerPort
from fl.roles.records import DropReason

__all__ = ["Selection", "select_rows", "select_synced"]

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
    events: list[ConsentEvent],
    hospital: Address,
    at: tuple[int, int],
    purpose: StudyPurpose | None,
) -> DropReason:
    """Why a known patient with `events` (its history, oldest first) is left out at `at`."""
    block, ts = at
    prior = [e for e in events if e.position.block_number <= block]
    if not prior:
        return DropReason.NOT_CONSENTED
    last = prior[-1]
    if isinstance(last, ConsentRevoked):
        return DropReason.REVOKED if last.hospital == hospital else DropReason.NOT_CONSENTED
    if last.hospital != hospital:
        return DropReason.NOT_CONSENTED
    grant = next(e for e in reversed(prior) if isinstance(e, ConsentGranted))
    scope = last.remaining if isinstance(last, PurposesRevoked) else grant.purposes
    if purpose is not None and not purpose.covers_mask(scope):
        return DropReason.UNCOVERED
    if grant.expires_at and ts >= grant.expires_at:
        return DropReason.EXPIRED
    if ts < grant.valid_from:
        return DropReason.NOT_YET_VALID
    return DropReason.NOT_CONSENTED  # pragma: no cover - consented rows never reach here


def select_rows(
    index: ConsentViewPort,
    study: StudyId,
    hospital: Address,
    dataset: HospitalDataset,
    block: int,
    block_timestamp: int,
    purpose: StudyPurpose | None = None,
) -> Selection:
    """Which rows of `dataset` the hospital may train on at `block` for a study with `purpose`
    (the index must be synced through `block`; the trainer always passes the block it just synced
    to)."""
    distinct = sorted(dataset.distinct_patients(), key=lambda a: int(a, 16))
    mask = index.mask(study, distinct, block, block_timestamp, purpose)
    mine = set(index.patients(study, hospital))
    allowed: set[Address] = set()
    dropped: dict[DropReason, list[Address]] = {}
    refused = [  # known but left out: the reasons come from their histories, read at once
        p
        for i, p in enumerate(distinct)
        if not mask.unknown[i] and not (mask.consented[i] and p in mine)
    ]
    histories = index.histories(study, refused) if refused else {}
    for i, patient in enumerate(distinct):
        if mask.unknown[i]:
            reason = DropReason.UNKNOWN
        elif mask.consented[i] and patient in mine:
            allowed.add(patient)
            continue
        else:
            events = histories[parse_address(patient)]
            reason = _reason(events, hospital, (block, block_timestamp), purpose)
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


def select_synced(
    index: ConsentViewPort,
    ledger: LedgerPort,
    study: StudyId,
    dataset: HospitalDataset,
    purpose: StudyPurpose | None,
    expiry_margin_s: int,
) -> Selection:
    """`select_rows` for the ledger's sender at the block the view syncs to now, with consents
    expiring within `expiry_margin_s` of that block's timestamp left out. The timestamp comes
    with the sync's own head read when the view offers it (`fl.ports.HeadedConsentViewPort`),
    else from the ledger."""
    if isinstance(index, HeadedConsentViewPort):
        block, timestamp = index.sync_at()
    else:
        block = index.sync()
        timestamp = ledger.block_timestamp(block)
    return select_rows(
        index, study, ledger.sender, dataset, block, timestamp + expiry_margin_s, purpose
    )
