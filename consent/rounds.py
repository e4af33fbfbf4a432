"""Round records shared by every layer: the ledger facade in `chain/` returns them and the roles
in `fl/` consume them, so the round's life cycle and an update's on-chain record are defined once.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from consent.ids import Address, Bytes32

__all__ = ["RoundState", "UpdateRecord"]


class RoundState(IntEnum):
    """A round's life cycle (the RoundLedger contract's enum)."""

    NONE = 0
    OPEN = 1
    FINALIZED = 2


@dataclass(frozen=True, slots=True)
class UpdateRecord:
    """One hospital's update in a round, as recorded on the ledger."""

    hospital: Address
    update_hash: Bytes32
    update_cid: str
    num_samples: int
    num_patients: int
    data_root: Bytes32
    consent_block: int
    submitted_block: int
