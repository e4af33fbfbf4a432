"""`ChainLedger`: one role's view of a deployment, satisfying `fl.ports.LedgerPort` (and
`PrivacyBudgetPort`, `SecAggPort`, `ContributionsPort`, `UnlearningPort`, `RoundPipelinePort`)
structurally.

It returns and takes the domain's records (`consent.records`) directly, so the roles in `fl/` run
against it with no adapter layer in between (`chain/` never imports `fl/`; the port is a
`typing.Protocol` that this class matches).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from web3.types import TxReceipt

from chain.contributions import Contributions
from chain.deploy import Ledger
from chain.errors import ChainError, DeploymentError
from chain.rollbacks import Rollbacks
from chain.secagg_coordinator import SecAggCoordinator
from chain.study_registry import Study
from chain.transactions import PendingTransaction
from consent.contributions import ContributionRecord
from consent.events import ConsentEvent
from consent.ids import Address, Bytes32, StudyId
from consent.lineage import Revocation, RollbackRecord, revocations_of
from consent.privacy import BudgetLedger, BudgetRecord
from consent.purposes import StudyPurpose
from consent.records import RoundRecord, RoundResult, StudyRecord, UpdateSubmission
from consent.rounds import RoundState
from consent.secagg.records import HospitalKeysRecord, RevealRecord, SecAggPhase

__all__ = ["ChainLedger"]

_EVENT_CHUNK: Final = 2_000
"""Blocks per consent-log query (eth-tester's look-up cost grows with the range)."""


class ChainLedger:
    """`fl.ports.LedgerPort` over a deployment, sending as the deployment facades' sender.

    A study's record (aggregator, seal key, minimum updates, metadata CID) cannot change once
    created, so it is read once per study. Its purpose is kept once the registry has locked it:
    `StudyRegistry.declarePurpose` locks the slot, and `addHospital` locks it too (a purpose
    cannot be declared after a hospital is admitted), so a declared purpose or any member means
    no later `declarePurpose` can succeed. Its member list can change, so `study()` reads it
    every time. A round is read with its updates in one view call; a finalized round never changes,
    so it is read once and kept (`round`, `latest_round`). It also satisfies
    `fl.ports.RoundPipelinePort` (the latest round in one call, finalize-and-open in one
    transaction).
    """

    def __init__(self, ledger: Ledger) -> None:
        if ledger.rounds.sender is None:
            raise ValueError("the ledger facades need a sender")
        self._ledger = ledger
        self._sender = ledger.rounds.sender.address
        self._studies: dict[StudyId, Study] = {}
        self._purposes: dict[StudyId, StudyPurpose | None] = {}
        """Purposes the registry has locked (see the class docstring)."""
        self._budgets: dict[StudyId, BudgetRecord | None] = {}
        self._consent_events: list[ConsentEvent] = []
        self._consent_synced = ledger.manifest.deploy_block - 1
        self._finalized: dict[tuple[StudyId, int], RoundRecord] = {}

    @property
    def deployment(self) -> Ledger:
        """The contract facades this view sends through."""
        return self._ledger

    @property
    def sender(self) -> Address:
        return self._sender

    def block_number(self) -> int:
        return self._ledger.chain.block_number()

    def block_timestamp(self, block: int) -> int:
        return self._ledger.chain.block_timestamp(block)

    def study(self, study: StudyId) -> StudyRecord:
        record = self._studies.get(study)
        if record is None:
            record = self._studies[study] = self._ledger.studies.get_study(study)
        hospitals = self._ledger.studies.hospitals(study)
        return StudyRecord(
            study=study,
            aggregator=record.aggregator,
            aggregator_seal_key=bytes(record.aggregator_seal_key),
            min_updates=record.min_updates,
            metadata_cid=record.metadata_cid,
            hospitals=hospitals,
            purpose=self._purpose(study, locked=bool(hospitals)),
        )

    def _purpose(self, study: StudyId, *, locked: bool) -> StudyPurpose | None:
        """The study's purpose, read until the registry has locked it (declared, or `locked`:
        a hospital is a member, so one was admitted), then kept."""
        if study in self._purposes:
            return self._purposes[study]
        purpose = self._ledger.studies.study_purpose(study)
        if purpose is not None or locked:
            self._purposes[study] = purpose
        return purpose

    def round_count(self, study: StudyId) -> int:
        return self._ledger.rounds.round_count(study)

    def round(self, study: StudyId, round_: int) -> RoundRecord:
        kept = self._finalized.get((study, round_))
        if kept is not None:
            return kept
        return self._keep(study, self._ledger.rounds.get_round_record(study, round_))

    def latest_round(self, study: StudyId) -> RoundRecord | None:
        _count, record = self._ledger.rounds.latest_round(study)
        return None if record is None else self._keep(study, record)

    def _keep(self, study: StudyId, record: RoundRecord) -> RoundRecord:
        """`record`, kept when it is finalized (immutable on chain from then on)."""
        if record.state == RoundState.FINALIZED:
            self._finalized[(study, record.round)] = record
        return record

    def open_round(
        self, study: StudyId, round_: int, base_model_hash: Bytes32, base_model_cid: str
    ) -> int:
        event = self._ledger.rounds.open_round(study, round_, base_model_hash, base_model_cid)
        return event.position.block_number

    def submit_update(self, study: StudyId, round_: int, submission: UpdateSubmission) -> int:
        return self._ledger.rounds.submit_update(study, round_, submission).position.block_number

    def finalize_round(self, study: StudyId, round_: int, result: RoundResult) -> int:
        return self._ledger.rounds.finalize_round(study, round_, result).position.block_number

    # --- fl.ports.RoundPipelinePort (issue 19) --------------------------------------------------

    def finalize_and_open_round(self, study: StudyId, round_: int, result: RoundResult) -> int:
        finalized, _opened = self._ledger.rounds.finalize_and_open_round(study, round_, result)
        return finalized.position.block_number

    # --- fl.ports.PrivacyBudgetPort -----------------------------------------------------------

    def budget(self, study: StudyId) -> BudgetRecord | None:
        if self._ledger.budget is None:
            return None
        if study not in self._budgets:  # fixed once configured; re-read until it is
            record = self._ledger.budget.record(study)
            if record is None:
                return None
            self._budgets[study] = record
        return self._budgets[study]

    def budget_ledger(self, study: StudyId, hospital: Address) -> BudgetLedger:
        record = self.budget(study)
        if record is None or self._ledger.budget is None:
            raise ChainError("not a dp-mode study: it has no privacy budget")
        return self._ledger.budget.ledger(study, hospital, record)

    def charge_budget(self, study: StudyId, round_: int, increment: Sequence[int]) -> int:
        if self._ledger.budget is None:
            raise ChainError("this deployment has no PrivacyBudget contract")
        return self._ledger.budget.charge(study, round_, increment).position.block_number

    def budget_charged(
        self, study: StudyId, round_: int, hospital: Address
    ) -> tuple[int, ...] | None:
        if self._ledger.budget is None:
            return None
        return self._ledger.budget.charged(study, round_, hospital)

    # --- fl.ports.ContributionsPort (issue 15) --------------------------------------------------

    def contributions_recorded(self, study: StudyId, round_: int) -> bool:
        return self._contributions().get_round(study, round_).recorded

    def record_contributions(self, study: StudyId, round_: int, record: ContributionRecord) -> int:
        event = self._contributions().record_round(study, round_, record)
        return event.position.block_number

    def send_contributions(
        self, study: StudyId, round_: int, record: ContributionRecord
    ) -> PendingTransaction:
        """`record_contributions` sent without waiting (`fl.roles.contributions`' pipelined
        port); `settle_contributions` waits for it and raises a refusal."""
        return self._contributions().send_record_round(study, round_, record)

    def settle_contributions(self, pending: PendingTransaction) -> int:
        return self._contributions().settle_record(pending).position.block_number

    def _contributions(self) -> Contributions:
        if self._ledger.contributions is None:
            raise DeploymentError("this deployment has no Contributions contract")
        return self._ledger.contributions

    # --- fl.ports.UnlearningPort (issue 16) -----------------------------------------------------

    def rollbacks(self, study: StudyId) -> dict[int, RollbackRecord]:
        return self._rollbacks().rollbacks(study)

    def record_rollback(self, study: StudyId, record: RollbackRecord) -> int:
        return self._rollbacks().record_rollback(study, record).position.block_number

    def revocations(self, study: StudyId) -> list[Revocation]:
        latest = self.block_number()
        while self._consent_synced < latest:  # incremental: only the blocks since the last call
            end = min(self._consent_synced + _EVENT_CHUNK, latest)
            self._consent_events.extend(
                self._ledger.consents.consent_events(self._consent_synced + 1, end)
            )
            self._consent_synced = end
        return revocations_of(e for e in self._consent_events if e.study == study)

    def _rollbacks(self) -> Rollbacks:
        if self._ledger.rollbacks is None:
            raise DeploymentError("this deployment has no Rollbacks contract")
        return self._ledger.rollbacks

    # --- fl.ports.SecAggPort (issue 13) ---------------------------------------------------------

    def secagg_threshold(self, study: StudyId) -> int:
        return 0 if self._ledger.secagg is None else self._ledger.secagg.threshold(study)

    def secagg_configure(self, study: StudyId, threshold: int, reveal_window: int) -> int:
        return _block(self._secagg().configure(study, threshold, reveal_window))

    def secagg_keys(self, study: StudyId, hospital: Address) -> HospitalKeysRecord:
        return self._secagg().get_keys(study, hospital)

    def secagg_keys_at(self, study: StudyId, hospital: Address, round_: int) -> HospitalKeysRecord:
        return self._secagg().keys_at(study, hospital, round_)

    def secagg_register_keys(self, study: StudyId, mask_key: Bytes32, seal_key: Bytes32) -> int:
        return _block(self._secagg().register_keys(study, mask_key, seal_key))

    def secagg_deal_key(self, study: StudyId, deal_hash: Bytes32, deal_cid: str) -> int:
        return _block(self._secagg().deal_key(study, deal_hash, deal_cid))

    def secagg_roster(self, study: StudyId, round_: int) -> tuple[Address, ...]:
        return self._secagg().roster(study, round_)

    def secagg_phase(self, study: StudyId, round_: int) -> SecAggPhase:
        return self._secagg().get_phase(study, round_)

    def secagg_reveals(self, study: StudyId, round_: int) -> tuple[RevealRecord, ...]:
        return self._secagg().get_reveals(study, round_)

    def secagg_close(self, study: StudyId, round_: int) -> int:
        members = len(self._ledger.studies.hospitals(study))
        return _block(self._secagg().close_submissions(study, round_, members))

    def secagg_reveal(
        self, study: StudyId, round_: int, reveal_hash: Bytes32, reveal_cid: str
    ) -> int:
        return _block(self._secagg().reveal(study, round_, reveal_hash, reveal_cid))

    def secagg_abort(self, study: StudyId, round_: int, reason: str) -> int:
        return _block(self._secagg().abort_round(study, round_, reason))

    def _secagg(self) -> SecAggCoordinator:
        if self._ledger.secagg is None:
            raise DeploymentError("this deployment has no SecAggCoordinator contract")
        return self._ledger.secagg


def _block(receipt: TxReceipt) -> int:
    return int(receipt["blockNumber"])
