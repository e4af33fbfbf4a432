"""Ports through which the federated-learning roles reach the outside world.

`fl/` never imports `chain/` or `api/`. The trainer and aggregator talk to the ledger, the consent
index and the artifact store through these `typing.Protocol`s; `chain/` provides classes that
satisfy them structurally, and `api/` wires the real ones together. Unit tests use fakes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from consent.ids import Address, Bytes32, StudyId
from consent.rounds import RoundState, UpdateRecord

__all__ = [
    "ArtifactStorePort",
    "ConsentViewPort",
    "LedgerPort",
    "RoundRecord",
    "RoundState",
    "StudyRecord",
    "UpdateRecord",
]


@dataclass(frozen=True, slots=True)
class StudyRecord:
    """What the roles need to know about a study."""

    study: StudyId
    aggregator: Address
    aggregator_seal_key: bytes  # raw 32-byte X25519 public key
    min_updates: int
    metadata_cid: str
    hospitals: tuple[Address, ...]


@dataclass(frozen=True, slots=True)
class RoundRecord:
    """One round as recorded on the ledger."""

    round: int
    state: RoundState
    base_model_hash: Bytes32
    base_model_cid: str
    model_hash: Bytes32
    model_cid: str
    metrics_cid: str
    opened_block: int
    finalized_block: int
    updates: tuple[UpdateRecord, ...]


class LedgerPort(Protocol):
    """The round ledger and study registry, as one role (a single sender key) sees them."""

    @property
    def sender(self) -> Address:
        """The address this ledger view sends transactions from."""
        ...

    def block_number(self) -> int:
        """The latest block number."""
        ...

    def block_timestamp(self, block: int) -> int:
        """Unix timestamp of `block`."""
        ...

    def study(self, study: StudyId) -> StudyRecord:
        """The study's record; raises if it does not exist."""
        ...

    def round_count(self, study: StudyId) -> int:
        """How many rounds have been opened in `study`."""
        ...

    def round(self, study: StudyId, round_: int) -> RoundRecord:
        """One round with its updates."""
        ...

    def open_round(
        self, study: StudyId, round_: int, base_model_hash: Bytes32, base_model_cid: str
    ) -> int:
        """Open `round_`; returns the block it was opened in."""
        ...

    def submit_update(
        self,
        study: StudyId,
        round_: int,
        *,
        update_hash: Bytes32,
        update_cid: str,
        num_samples: int,
        num_patients: int,
        data_root: Bytes32,
        consent_block: int,
    ) -> int:
        """Submit this hospital's update; returns the block. `num_patients` (distinct patients
        under `data_root`) is the update's aggregation weight, bounded on chain by the
        hospital's active consents.

        Raises `consent.errors.StaleConsentError` when a revocation of one of this hospital's
        patients landed after `consent_block`.
        """
        ...

    def finalize_round(
        self,
        study: StudyId,
        round_: int,
        model_hash: Bytes32,
        model_cid: str,
        metrics_cid: str,
        *,
        considered_updates: int,
    ) -> int:
        """Finalize `round_` with the model built from the round's first `considered_updates`
        updates (every update read, accepted or rejected); returns the block.

        Raises `consent.errors.RoundChangedError` when the round holds a different number of
        updates (one landed after the aggregator read the round); nothing changes then.
        """
        ...


class ConsentViewPort(Protocol):
    """A hospital's consent index, kept in step with the chain."""

    def sync(self) -> int:
        """Apply every consent event up to the latest block; returns that block `b`."""
        ...

    def consented_mask(
        self, study: StudyId, patients: Sequence[Address], block: int
    ) -> npt.NDArray[np.bool_]:
        """For each patient, whether their consent counts at `block` (unknown patients raise)."""
        ...


class ArtifactStorePort(Protocol):
    """Content-addressed artifact storage (IPFS or the local store)."""

    def put(self, data: bytes) -> str:
        """Store `data`; returns its CID."""
        ...

    def get(self, cid: str) -> bytes:
        """The bytes behind `cid`, verified against it."""
        ...
