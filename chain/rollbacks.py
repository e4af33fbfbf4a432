"""Typed facade of the Rollbacks contract: the rollback rounds of `unlearn` studies (issue 16).
The record crosses floors as `consent.lineage.RollbackRecord`."""

from __future__ import annotations

from typing import Final

from chain._facade import ContractFacade, string_gas
from chain.events import RollbackRecorded
from consent.ids import StudyId, parse_address
from consent.lineage import RollbackRecord

__all__ = ["Rollbacks"]

_GAS_BASE: Final = 250_000
_GAS_PER_PATIENT: Final = 35_000
"""A storage slot and a consent-record look-up per patient; the base covers reading the study
and two rounds (their CID strings) from the other contracts."""


class Rollbacks(ContractFacade):
    """Records (the study's aggregator) and reads (anyone) rollback rounds."""

    CONTRACT = "Rollbacks"

    def record_rollback(self, study: StudyId, record: RollbackRecord) -> RollbackRecorded:
        """Record open round `record.round` as a rollback to `record.base_round`'s base."""
        receipt = self._transact(
            _GAS_BASE + _GAS_PER_PATIENT * len(record.patients) + string_gas(record.reason),
            "recordRollback",
            bytes(study),
            record.round,
            record.base_round,
            record.shards,
            record.shard_mask,
            record.reason,
            list(record.patients),
        )
        return self._single_event(receipt, RollbackRecorded)

    def get_rollback(self, study: StudyId, round_: int) -> RollbackRecord | None:
        """`round_`'s rollback record, or None if it is not a rollback round."""
        raw = self._call_named("getRollback", bytes(study), round_)
        if int(raw["recordedBlock"]) == 0:
            return None
        return RollbackRecord(
            round=round_,
            base_round=int(raw["baseRound"]),
            reason=str(raw["reason"]),
            patients=tuple(parse_address(p) for p in raw["patients"]),
            recorded_block=int(raw["recordedBlock"]),
            shards=int(raw["shards"]),
            shard_mask=int(raw["shardMask"]),
        )

    def rollbacks(self, study: StudyId) -> dict[int, RollbackRecord]:
        """Every rollback record of `study`, by round."""
        found: dict[int, RollbackRecord] = {}
        for round_ in self._call("rollbackRounds", bytes(study)):
            record = self.get_rollback(study, int(round_))
            if record is not None:
                found[record.round] = record
        return found
