"""The values that cross floors during a round: what a hospital submits, what the aggregator
finalizes, and the study and round records the ledger answers with.

`fl.ports` takes and returns these, `chain.ledger.ChainLedger` builds them from the contracts,
and the roles, the unit-test fakes and the benchmarks all pass them whole, so a field added here
(a patient count, a privacy-budget increment, a codec name) travels through every floor without
a keyword being threaded through each signature. Fields added later get defaults, so existing
callers keep working.
"""

from __future__ import annotations

from dataclasses import dataclass

from consent.ids import Address, Bytes32, StudyId
from consent.rounds import RoundState, UpdateRecord

__all__ = ["RoundRecord", "RoundResult", "StudyRecord", "UpdateSubmission"]

_EMPTY: Bytes32 = Bytes32(bytes(32))


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateSubmission:
    """One hospital's update for a round, as it submits it (`RoundLedger.submitUpdate`)."""

    update_hash: Bytes32
    """SHA-256 of the exact stored bytes (the encoded update)."""
    update_cid: str
    num_samples: int
    num_patients: int
    """Distinct patients under `data_root`: the update's aggregation weight, bounded on chain by
    the hospital's active consents (`InvalidPatientCount`)."""
    data_root: Bytes32
    """Root of the sparse Merkle tree over the distinct patients trained on."""
    consent_block: int
    """The block the consent view was synced to (the freshness rule's input)."""

    def __post_init__(self) -> None:
        if len(bytes(self.update_hash)) != 32 or len(bytes(self.data_root)) != 32:
            raise ValueError("update_hash and data_root must be 32 bytes")
        if self.num_samples < 0 or self.num_patients < 0 or self.consent_block < 0:
            raise ValueError("num_samples, num_patients and consent_block must be >= 0")


@dataclass(frozen=True, slots=True, kw_only=True)
class RoundResult:
    """What the aggregator records when it finalizes a round (`RoundLedger.finalizeRound`)."""

    model_hash: Bytes32
    model_cid: str
    metrics_cid: str
    considered_updates: int
    """How many of the round's updates the model was built from (kept and rejected alike)."""

    def __post_init__(self) -> None:
        if len(bytes(self.model_hash)) != 32:
            raise ValueError("model_hash must be 32 bytes")
        if self.considered_updates < 0:
            raise ValueError("considered_updates must be >= 0")


@dataclass(frozen=True, slots=True)
class StudyRecord:
    """What the roles need to know about a study."""

    study: StudyId
    aggregator: Address
    aggregator_seal_key: bytes
    """The raw 32-byte X25519 public key updates are sealed to."""
    min_updates: int
    metadata_cid: str
    hospitals: tuple[Address, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class RoundRecord:
    """One round as recorded on the ledger, with its updates."""

    round: int
    state: RoundState
    base_model_hash: Bytes32 = _EMPTY
    base_model_cid: str = ""
    model_hash: Bytes32 = _EMPTY
    model_cid: str = ""
    metrics_cid: str = ""
    opened_block: int = 0
    finalized_block: int = 0
    updates: tuple[UpdateRecord, ...] = ()

    @classmethod
    def never_opened(cls, round_: int) -> RoundRecord:
        """The contract's zero record of a round that was never opened."""
        return cls(round=round_, state=RoundState.NONE)

    def update_of(self, hospital: Address) -> UpdateRecord | None:
        """`hospital`'s update in this round, if it submitted one."""
        return next((u for u in self.updates if u.hospital == hospital), None)
