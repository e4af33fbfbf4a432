"""Ports through which the federated-learning roles reach the outside world.

`fl/` never imports `chain/` or `api/`. The trainer and aggregator talk to the ledger, the consent
view and the artifact store through these `typing.Protocol`s; `chain/` provides the classes that
satisfy them structurally (`chain.ledger.ChainLedger`, `chain.consent_view.ChainConsentView`,
`chain.store`), and `api/` wires them together. Unit tests use fakes. What crosses a port is a
value object of the pure domain (`consent.records`), never a list of loose keywords.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol, runtime_checkable

from consent.contributions import ContributionRecord
from consent.events import ConsentEvent
from consent.ids import Address, Bytes32, StudyId
from consent.index import ConsentMask
from consent.lineage import Revocation, RollbackRecord
from consent.privacy import BudgetLedger, BudgetRecord
from consent.purposes import StudyPurpose
from consent.records import RoundRecord, RoundResult, StudyRecord, UpdateSubmission
from consent.rounds import RoundState, UpdateRecord
from consent.secagg.records import HospitalKeysRecord, RevealRecord, SecAggPhase

__all__ = [
    "ArtifactStorePort",
    "ConsentViewPort",
    "ContributionsPort",
    "LedgerPort",
    "PrivacyBudgetPort",
    "RoundPipelinePort",
    "RoundRecord",
    "RoundResult",
    "RoundState",
    "SecAggPort",
    "StudyRecord",
    "UnlearningPort",
    "UpdateRecord",
    "UpdateSubmission",
]


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
        """One round with its updates (`RoundRecord.never_opened` if it was never opened)."""
        ...

    def open_round(
        self, study: StudyId, round_: int, base_model_hash: Bytes32, base_model_cid: str
    ) -> int:
        """Open `round_`; returns the block it was opened in."""
        ...

    def submit_update(self, study: StudyId, round_: int, submission: UpdateSubmission) -> int:
        """Submit this hospital's update; returns the block. `submission.num_patients` (distinct
        patients under `data_root`) is the update's aggregation weight, bounded on chain by the
        hospital's active consents.

        Raises `consent.errors.StaleConsentError` when a revocation of one of this hospital's
        patients landed after `submission.consent_block`.
        """
        ...

    def finalize_round(self, study: StudyId, round_: int, result: RoundResult) -> int:
        """Finalize `round_` with the model built from the round's first
        `result.considered_updates` updates (every update read, kept or rejected); returns the
        block.

        Raises `consent.errors.RoundChangedError` when the round holds a different number of
        updates (one landed after the aggregator read the round); nothing changes then.
        """
        ...


@runtime_checkable
class RoundPipelinePort(Protocol):
    """The round pipeline of issue 19: fewer ledger calls per round, same guarantees.

    `chain.ledger.ChainLedger` satisfies it beside `LedgerPort`; a role given a ledger that
    does too uses it, and falls back to the `LedgerPort` calls otherwise.
    """

    def latest_round(self, study: StudyId) -> RoundRecord | None:
        """The latest round with its updates in one read (None before round 0)."""
        ...

    def finalize_and_open_round(self, study: StudyId, round_: int, result: RoundResult) -> int:
        """`finalize_round(round_)` then `open_round(round_ + 1)` on the model just finalized
        (`result.model_hash`, `result.model_cid`), in one transaction; returns the block.
        Refused exactly as `finalize_round` is (`consent.errors.RoundChangedError`, ...), and
        then nothing changes: neither the finalization nor the opening happens."""
        ...


@runtime_checkable
class PrivacyBudgetPort(Protocol):
    """The privacy budget of dp-mode studies (`PrivacyBudget` contract), as one role sees it.

    `chain.ledger.ChainLedger` satisfies it beside `LedgerPort`; a role given a ledger that
    does too uses it without being handed it twice.
    """

    def budget(self, study: StudyId) -> BudgetRecord | None:
        """The study's terms and caps, or None if it is not a dp-mode study."""
        ...

    def budget_ledger(self, study: StudyId, hospital: Address) -> BudgetLedger:
        """`hospital`'s cumulative RDP per order under the study's caps."""
        ...

    def charge_budget(self, study: StudyId, round_: int, increment: Sequence[int]) -> int:
        """Charge this sender's RDP `increment` for `round_`; returns the block. Raises
        `consent.privacy.BudgetExhaustedError` when no order would stay under its cap."""
        ...

    def budget_charged(
        self, study: StudyId, round_: int, hospital: Address
    ) -> tuple[int, ...] | None:
        """What `hospital` charged for `round_`, or None."""
        ...


@runtime_checkable
class SecAggPort(Protocol):
    """The SecAggCoordinator of privacy mode "secagg" (`consent.secagg`), as one role sees it.

    `chain.ledger.ChainLedger` satisfies it beside `LedgerPort`. The aggregator configures,
    closes and aborts; a member hospital registers its keys, deals its mask key and reveals.
    """

    def secagg_threshold(self, study: StudyId) -> int:
        """The study's threshold t (0: not configured)."""
        ...

    def secagg_configure(self, study: StudyId, threshold: int, reveal_window: int) -> int:
        """Fix the study's threshold and reveal window (blocks); returns the block."""
        ...

    def secagg_keys(self, study: StudyId, hospital: Address) -> HospitalKeysRecord:
        """`hospital`'s latest registered key epoch and its mask-key deal (zeros if none)."""
        ...

    def secagg_keys_at(self, study: StudyId, hospital: Address, round_: int) -> HospitalKeysRecord:
        """The key epoch that binds `round_` for `hospital` (zeros if none): a round's masks,
        shares and reveals use these keys, whatever was registered later."""
        ...

    def secagg_register_keys(self, study: StudyId, mask_key: Bytes32, seal_key: Bytes32) -> int:
        """Register this sender's X25519 public keys; returns the block."""
        ...

    def secagg_deal_key(self, study: StudyId, deal_hash: Bytes32, deal_cid: str) -> int:
        """Record the deal of this sender's mask key; returns the block."""
        ...

    def secagg_roster(self, study: StudyId, round_: int) -> tuple[Address, ...]:
        """The round's roster (its binding keys dealt before it opened, not burned then), sorted."""
        ...

    def secagg_phase(self, study: StudyId, round_: int) -> SecAggPhase:
        """The round's close, reveal count and abort."""
        ...

    def secagg_reveals(self, study: StudyId, round_: int) -> tuple[RevealRecord, ...]:
        """The round's reveals in order."""
        ...

    def secagg_close(self, study: StudyId, round_: int) -> int:
        """Close the round's submissions; returns the block."""
        ...

    def secagg_reveal(
        self, study: StudyId, round_: int, reveal_hash: Bytes32, reveal_cid: str
    ) -> int:
        """Record this sender's reveal for the round; returns the block."""
        ...

    def secagg_abort(self, study: StudyId, round_: int, reason: str) -> int:
        """Abort the round below threshold with the named reason; returns the block."""
        ...


class ContributionsPort(Protocol):
    """The Contributions contract as the study's aggregator sees it (issue 15): each finalized
    round's judgement digest and contribution values, recorded once."""

    def contributions_recorded(self, study: StudyId, round_: int) -> bool:
        """Whether finalized `round_`'s contributions are on chain."""
        ...

    def record_contributions(self, study: StudyId, round_: int, record: ContributionRecord) -> int:
        """Record finalized `round_`'s digest and values; returns the block it landed in."""
        ...


@runtime_checkable
class UnlearningPort(Protocol):
    """The rollback rounds of an `unlearn` study (the `Rollbacks` contract) and the study's
    revocations, as its aggregator sees them (issue 16). `chain.ledger.ChainLedger` satisfies it
    beside `LedgerPort`; an aggregator given a ledger that does too uses it."""

    def rollbacks(self, study: StudyId) -> Mapping[int, RollbackRecord]:
        """Every rollback record of `study`, by round."""
        ...

    def record_rollback(self, study: StudyId, record: RollbackRecord) -> int:
        """Record open round `record.round` as a rollback; returns the block. Refused on chain
        (`BaseOutsideHistoryError`, ...) for a base outside the study's history."""
        ...

    def revocations(self, study: StudyId) -> Sequence[Revocation]:
        """Every revocation in `study` with the grant it ended, in chain order."""
        ...


class ConsentViewPort(Protocol):
    """A hospital's consent view, kept in step with the chain (the SQLite index stays behind it).

    The trainer selects its rows through it (`fl.roles.selection`) and builds its exclusion
    proofs from it (`fl.roles.proofs`).
    """

    def sync(self) -> int:
        """Apply every consent event up to the latest block; returns that block `b`."""
        ...

    def mask(
        self,
        study: StudyId,
        patients: Sequence[Address],
        block: int,
        block_timestamp: int,
        purpose: StudyPurpose | None = None,
    ) -> ConsentMask:
        """Per patient, whether consent counts at `block` (with `purpose`: only consents whose
        DUO purposes cover it) and whether the patient is unknown (no event in the study); the
        view must be synced through `block`."""
        ...

    def patients(self, study: StudyId, hospital: str) -> tuple[Address, ...]:
        """Patients whose consent record in `study` is with `hospital` (revoked ones too)."""
        ...

    def history(self, study: StudyId, patient: str) -> list[ConsentEvent]:
        """Every consent event of `patient` in `study`, oldest first."""
        ...

    def histories(
        self, study: StudyId, patients: Iterable[str]
    ) -> dict[Address, list[ConsentEvent]]:
        """`history` of each of `patients`, keyed by its checksummed address (an empty list
        without events), in one read: the proofs and drop reasons of a whole hospital."""
        ...

    def revoked_since(self, study: StudyId, hospital: str, block: int) -> tuple[Address, ...]:
        """`hospital`'s patients with a revocation or a withdrawal of purposes after `block`,
        sorted."""
        ...


@runtime_checkable
class HeadedConsentViewPort(Protocol):
    """A consent view whose sync also returns the synced block's timestamp, both taken from the
    one head read the sync makes (issue 19: no second request for the timestamp)."""

    def sync_at(self) -> tuple[int, int]:
        """`ConsentViewPort.sync`, returning the block `b` it synced through and `b`'s
        timestamp."""
        ...


class ArtifactStorePort(Protocol):
    """Content-addressed artifact storage (IPFS or the local store)."""

    def put(self, data: bytes) -> str:
        """Store `data`; returns its CID."""
        ...

    def get(self, cid: str) -> bytes:
        """The bytes behind `cid`, verified against it."""
        ...
