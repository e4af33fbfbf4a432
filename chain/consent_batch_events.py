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
from web3.types import EventData, LogReceipt

from chain.errors import ChainError
from consent.events import ConsentGranted, EventPosition
from consent.ids import Address, StudyId, parse_address

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
        self._pending: list[LogReceipt] = []

    def add(self, log: LogReceipt) -> None:
        """Hold one `FirstConsentGranted` log (decoded by hand when its batch log arrives: one
        indexed address and one word, and web3's generic decoder costs ~1 ms a log)."""
        self._pending.append(log)

    def close(self, batch: EventData, timestamp: int) -> list[ConsentGranted]:
        """The held logs as `ConsentGranted` events of `batch`'s study and hospital."""
        pending, self._pending = self._pending, []
        tx_hash = HexBytes(batch["transactionHash"]).to_0x_hex()
        if any(HexBytes(log["transactionHash"]).to_0x_hex() != tx_hash for log in pending):
            raise IncompleteBatchError(f"batch {tx_hash}: per-patient logs of another transaction")
        if len(pending) != int(batch["args"]["size"]):
            raise IncompleteBatchError(
                f"batch {tx_hash} records {batch['args']['size']} patients, "
                f"{len(pending)} logs arrived"
            )
        study = StudyId(bytes(batch["args"]["study"]))
        hospital = parse_address(batch["args"]["hospital"])
        return [_granted(log, study, hospital, tx_hash, timestamp) for log in pending]

    def check_done(self) -> None:
        """Raise `IncompleteBatchError` if logs are still held."""
        if self._pending:
            raise IncompleteBatchError(
                f"{len(self._pending)} FirstConsentGranted logs without their ConsentBatchRecorded"
            )


def _granted(
    log: LogReceipt, study: StudyId, hospital: Address, tx_hash: str, timestamp: int
) -> ConsentGranted:
    if len(log["topics"]) != 2 or len(bytes(log["data"])) != 32:
        raise IncompleteBatchError(f"batch {tx_hash}: a FirstConsentGranted log is malformed")
    terms = int.from_bytes(bytes(log["data"]), "big")
    return ConsentGranted(
        study=study,
        patient=parse_address("0x" + bytes(log["topics"][1])[-20:].hex()),
        hospital=hospital,
        expires_at=(terms >> 128) & _MASK64,
        nonce=0,
        position=EventPosition(int(log["blockNumber"]), int(log["logIndex"])),
        tx_hash=tx_hash,
        block_timestamp=timestamp,
        purposes=terms & _MASK64,
        valid_from=(terms >> 64) & _MASK64,
    )
