"""The logs of a batch of first consents, decoded into `consent.events.ConsentGranted` events.

`grantFirstBatchWithSig` logs one `FirstConsentGranted(patient, terms)` per patient (a third of
the gas of a full `ConsentGranted`) and then one `ConsentBatchRecorded(study, hospital, ...)`.
Together they say everything a `ConsentGranted` says: `BatchGrants` holds a transaction's
per-patient logs until its batch log names the study and hospital, then gives one
`ConsentGranted` per patient (nonce 0) at the position of the patient's own log, so consent
indexes, trainers and the audit see batch-enrolled patients exactly like the others.
"""

from __future__ import annotations

from typing import Final

from hexbytes import HexBytes
from web3.types import EventData

from chain.errors import ChainError
from consent.events import ConsentGranted, EventPosition
from consent.ids import StudyId, parse_address

__all__ = ["BATCH_RECORDED", "FIRST_CONSENT", "BatchGrants", "IncompleteBatchError"]

FIRST_CONSENT: Final = "FirstConsentGranted"
BATCH_RECORDED: Final = "ConsentBatchRecorded"
_MASK64: Final = (1 << 64) - 1


class IncompleteBatchError(ChainError, ValueError):
    """Per-patient batch logs without their transaction's `ConsentBatchRecorded` log (a log
    range that cuts a transaction, or logs filtered by topic)."""


class BatchGrants:
    """Collects one transaction's `FirstConsentGranted` logs until its batch log arrives."""

    def __init__(self) -> None:
        self._pending: list[EventData] = []

    def add(self, data: EventData) -> None:
        """Hold one `FirstConsentGranted` log."""
        self._pending.append(data)

    def close(self, batch: EventData, timestamp: int) -> list[ConsentGranted]:
        """The held logs as `ConsentGranted` events of `batch`'s study and hospital."""
        pending, self._pending = self._pending, []
        tx_hash = HexBytes(batch["transactionHash"]).to_0x_hex()
        if any(HexBytes(d["transactionHash"]).to_0x_hex() != tx_hash for d in pending):
            raise IncompleteBatchError(f"batch {tx_hash}: per-patient logs of another transaction")
        if len(pending) != int(batch["args"]["size"]):
            raise IncompleteBatchError(
                f"batch {tx_hash} records {batch['args']['size']} patients, "
                f"{len(pending)} logs arrived"
            )
        study = StudyId(bytes(batch["args"]["study"]))
        hospital = parse_address(batch["args"]["hospital"])
        return [
            ConsentGranted(
                study=study,
                patient=parse_address(d["args"]["patient"]),
                hospital=hospital,
                expires_at=(int(d["args"]["terms"]) >> 128) & _MASK64,
                nonce=0,
                position=EventPosition(int(d["blockNumber"]), int(d["logIndex"])),
                tx_hash=tx_hash,
                block_timestamp=timestamp,
                purposes=int(d["args"]["terms"]) & _MASK64,
                valid_from=(int(d["args"]["terms"]) >> 64) & _MASK64,
            )
            for d in pending
        ]

    def check_done(self) -> None:
        """Raise `IncompleteBatchError` if logs are still held."""
        if self._pending:
            raise IncompleteBatchError(
                f"{len(self._pending)} FirstConsentGranted logs without their ConsentBatchRecorded"
            )
