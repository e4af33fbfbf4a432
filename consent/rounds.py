"""A round's phases and an update's on-chain record, shared by every layer: the ledger facade in
`chain/` returns them and the roles in `fl/` consume them, so both are defined once.

Phases can grow: today a round goes NONE -> OPEN -> FINALIZED (the RoundLedger contract's enum).
A protocol that needs another phase (secure aggregation's reveal phase, between submitting and
finalizing) adds a member here with the contract's number and says, through `accepts_updates` and
`is_closed`, how the roles treat it; the roles ask those questions rather than compare states.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from consent.ids import Address, Bytes32

__all__ = ["RoundState", "UpdateRecord"]


class RoundState(IntEnum):
    """A round's phase (the RoundLedger contract's enum, same numbers)."""

    NONE = 0
    """Never opened (the contract's zero record)."""
    OPEN = 1
    """Hospitals submit updates."""
    FINALIZED = 2
    """The round's model is recorded; the next round may open."""

    @property
    def accepts_updates(self) -> bool:
        """Whether hospitals may submit to a round in this phase."""
        return self is RoundState.OPEN

    @property
    def is_closed(self) -> bool:
        """Whether the round's model is final (nothing changes in it any more)."""
        return self is RoundState.FINALIZED


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
