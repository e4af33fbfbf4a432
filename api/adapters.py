"""Adapters from the chain facades to the ports the FL roles use (`fl.ports`).

They live in `api/`, the composition root: `chain/` may not import `fl/` (the layers are
independent), and the port records are `fl` types.
"""

from __future__ import annotations

from chain.deploy import Ledger
from chain.study_registry import Study
from consent.ids import Address, Bytes32, StudyId
from fl.ports import RoundRecord, RoundState, StudyRecord, UpdateRecord

__all__ = ["ChainLedger"]


class ChainLedger:
    """`fl.ports.LedgerPort` over a deployment, sending as the deployment facades' sender.

    A study's record (aggregator, seal key, minimum updates, metadata CID) cannot change once
    created, so it is read once per study; its member list can, so `study()` reads it every
    time. A round's updates are read only when the round says it holds some.
    """

    def __init__(self, ledger: Ledger) -> None:
        if ledger.rounds.sender is None:
            raise ValueError("the ledger facades need a sender")
        self._ledger = ledger
        self._sender = ledger.rounds.sender.address
        self._studies: dict[StudyId, Study] = {}

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
        return StudyRecord(
            study=study,
            aggregator=record.aggregator,
            aggregator_seal_key=bytes(record.aggregator_seal_key),
            min_updates=record.min_updates,
            metadata_cid=record.metadata_cid,
            hospitals=self._ledger.studies.hospitals(study),
        )

    def round_count(self, study: StudyId) -> int:
        return self._ledger.rounds.round_count(study)

    def round(self, study: StudyId, round_: int) -> RoundRecord:
        raw = self._ledger.rounds.get_round(study, round_)
        updates: tuple[UpdateRecord, ...] = ()
        if raw.state != RoundState.NONE and raw.update_count > 0:
            updates = self._ledger.rounds.get_updates(study, round_)
        return RoundRecord(
            round=round_,
            state=raw.state,
            base_model_hash=raw.base_model_hash,
            base_model_cid=raw.base_model_cid,
            model_hash=raw.model_hash,
            model_cid=raw.model_cid,
            metrics_cid=raw.metrics_cid,
            opened_block=raw.opened_block,
            finalized_block=raw.finalized_block,
            updates=updates,
        )

    def open_round(
        self, study: StudyId, round_: int, base_model_hash: Bytes32, base_model_cid: str
    ) -> int:
        event = self._ledger.rounds.open_round(study, round_, base_model_hash, base_model_cid)
        return event.position.block_number

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
        event = self._ledger.rounds.submit_update(
            study,
            round_,
            update_hash=update_hash,
            update_cid=update_cid,
            num_samples=num_samples,
            num_patients=num_patients,
            data_root=data_root,
            consent_block=consent_block,
        )
        return event.position.block_number

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
        event = self._ledger.rounds.finalize_round(
            study,
            round_,
            model_hash,
            model_cid,
            metrics_cid,
            considered_updates=considered_updates,
        )
        return event.position.block_number
