"""The consent index's answers: a mask over a batch of patients, and one patient's record
(`status_from_events` derives it from the patient's events)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from consent.events import ConsentEvent, ConsentGranted, ConsentRevoked, PurposesRevoked
from consent.ids import Address, StudyId
from consent.purposes import ConsentScope

__all__ = ["ConsentMask", "ConsentStatus", "status_from_events"]

_BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, eq=False, slots=True)
class ConsentMask:
    """The answer for a batch of patients: `consented[i]`, and `unknown[i]` (no event at all)."""

    consented: _BoolArray
    unknown: _BoolArray


@dataclass(frozen=True, slots=True)
class ConsentStatus:
    """A patient's current consent record in one study, as of the index's applied events."""

    study: StudyId
    patient: Address
    hospital: Address | None
    granted_block: int | None  # the latest grant
    revoked_block: int | None  # a revocation after the latest grant
    expires_at: int  # of the latest grant; 0 = never
    synced_block: int
    scope: ConsentScope | None = None
    """The purposes still granted (None without a grant)."""
    valid_from: int = 0  # of the latest grant; 0 = from the grant

    @property
    def active(self) -> bool:
        """Granted and not revoked since (expiry aside: see `consented_at_time`)."""
        return self.granted_block is not None and self.revoked_block is None

    def consented_at_time(self, timestamp: int) -> bool:
        """Whether the current record counts at unix time `timestamp` (checks expiry)."""
        return (
            self.active
            and self.valid_from <= timestamp
            and (self.expires_at == 0 or timestamp < self.expires_at)
        )


def status_from_events(
    study: StudyId, patient: Address, events: list[ConsentEvent], synced_block: int
) -> ConsentStatus:
    """`patient`'s current record in `study` from its events, oldest first (all fields None
    without any grant)."""
    grants = [i for i, e in enumerate(events) if isinstance(e, ConsentGranted)]
    if not grants:
        return ConsentStatus(study, patient, None, None, None, 0, synced_block)
    grant = events[grants[-1]]
    assert isinstance(grant, ConsentGranted)  # narrowing for mypy
    after = events[grants[-1] + 1 :]
    revoked = next((e for e in after if isinstance(e, ConsentRevoked)), None)
    mask = grant.purposes
    for event in after:
        if isinstance(event, PurposesRevoked):
            mask = event.remaining
    return ConsentStatus(
        study=study,
        patient=patient,
        hospital=events[-1].hospital,
        granted_block=grant.position.block_number,
        revoked_block=None if revoked is None else revoked.position.block_number,
        expires_at=grant.expires_at,
        synced_block=synced_block,
        scope=ConsentScope.from_mask(mask),
        valid_from=grant.valid_from,
    )
