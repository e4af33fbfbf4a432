"""The consent index's answers: a mask over a batch of patients, and one patient's record."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from consent.ids import Address, StudyId
from consent.purposes import ConsentScope

__all__ = ["ConsentMask", "ConsentStatus"]

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
