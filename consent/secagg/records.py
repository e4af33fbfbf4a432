"""What the chain records for privacy mode "secagg", as domain values (the SecAggCoordinator
facade in `chain/` returns them; the roles and the audit read them)."""

from __future__ import annotations

from dataclasses import dataclass

from consent.ids import Address, Bytes32
from consent.secagg.protocol import RosterEntry
from consent.secagg.ring import RingParams

__all__ = ["HospitalKeysRecord", "RevealRecord", "SecAggPhase", "SecAggRoundRecord"]


@dataclass(frozen=True, slots=True)
class HospitalKeysRecord:
    """One epoch of a hospital's keys in a study and the deal of its mask key (zero if not
    dealt). A dealt epoch binds the rounds from `from_round` on, until a later epoch is dealt."""

    mask_key: Bytes32
    seal_key: Bytes32
    epoch: int
    deal_hash: Bytes32
    deal_cid: str
    dealt_block: int
    burned_block: int
    from_round: int = 0

    @property
    def dealt(self) -> bool:
        """Whether this epoch's mask key was dealt (so it binds rounds)."""
        return self.dealt_block != 0


@dataclass(frozen=True, slots=True)
class SecAggPhase:
    """A round's secagg phase: when submissions closed (0: open), how many updates were in by
    then, how many reveals arrived, and an abort with its reason (0 / empty: not aborted)."""

    closed_block: int
    submitted_at_close: int
    reveal_count: int
    aborted_block: int
    abort_reason: str

    @property
    def closed(self) -> bool:
        """Whether submissions are closed."""
        return self.closed_block != 0

    @property
    def aborted(self) -> bool:
        """Whether the round was aborted below threshold."""
        return self.aborted_block != 0


@dataclass(frozen=True, slots=True)
class RevealRecord:
    """One survivor's reveal as recorded on chain."""

    hospital: Address
    reveal_hash: Bytes32
    reveal_cid: str
    revealed_block: int


@dataclass(frozen=True, slots=True)
class SecAggRoundRecord:
    """Everything public about one secagg round: what anyone needs to recompute its sum. The
    roster's keys and `key_deals` are the epochs that bind this round, not the current ones."""

    threshold: int
    params: RingParams
    roster: tuple[RosterEntry, ...]
    key_deals: dict[Address, HospitalKeysRecord]
    phase: SecAggPhase
    reveals: tuple[RevealRecord, ...]
