"""Batched first consents under one Merkle root per batch (`ConsentBatches.sol`), and the lazy
per-patient record.

`ConsentBatchCalls` is the part of the `ConsentRegistry` facade that speaks to
`grantFirstBatchWithSig`, `materializeConsent`, `isConsentedInBatch` and the batch views. A batch
logs one compact `FirstConsentGranted` per patient, which the event decoder turns into the same
`ConsentGranted` events as the ordinary path (`chain.consent_batch_events`: consent indexes,
trainers and the audit see the grant), and stores only its root on chain; the leaves are rebuilt
from the batch transaction's own logs (`membership`), so anyone can prove a patient's batch
consent, copy it into the per-patient record (`materialize`) and then revoke it with the
ordinary functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from eth_utils.abi import event_abi_to_log_topic
from hexbytes import HexBytes
from web3.types import TxReceipt

from chain._facade import ContractFacade
from chain.consent_batch_errors import AlreadyMaterializedError
from chain.errors import ChainError
from chain.transactions import PendingTransaction
from consent.batch_tree import BatchLeaf, batch_proof, batch_root
from consent.events import ConsentGranted
from consent.ids import Address, StudyId

if TYPE_CHECKING:
    from chain.consent_registry import ConsentRecord, SignedConsent

__all__ = [
    "MAX_FIRST_GRANT_BATCH",
    "BatchConsent",
    "BatchMembership",
    "ConsentBatchCalls",
    "RecordedBatch",
]

MAX_FIRST_GRANT_BATCH: Final = 1000
"""First grants per `grantFirstBatchWithSig` (the contract takes up to 1024): ~14.5k gas each,
so a full batch stays near 15M gas, inside a 30M block (the gas limit sent: 250k + 17k each)."""

_GAS_BATCH: Final = 250_000
_GAS_BATCH_EACH: Final = 17_000
_GAS_MATERIALIZE: Final = 120_000


@dataclass(frozen=True, slots=True)
class RecordedBatch:
    """One recorded batch: its number in the study, its leaves (batch order) and root."""

    batch_id: int
    leaves: tuple[BatchLeaf, ...]
    root: bytes
    granted: tuple[ConsentGranted, ...]


@dataclass(frozen=True, slots=True)
class BatchMembership:
    """What proves one patient's batch consent: the batch, the patient's leaf and its proof."""

    batch_id: int
    leaf: BatchLeaf
    proof: tuple[bytes, ...]

    @property
    def terms(self) -> tuple[int, int, int]:
        """The contract's `ConsentTerms(purposes, validFrom, expiresAt)` tuple."""
        return (self.leaf.purposes, self.leaf.valid_from, self.leaf.expires_at)


@dataclass(frozen=True, slots=True)
class BatchConsent:
    """A batch consent not yet written into its per-patient record: its proof, the grant the
    batch's logs describe (hospital, block, terms) and whether it counts now."""

    member: BatchMembership
    granted: ConsentGranted
    consented: bool

    @property
    def batch_id(self) -> int:
        """The batch's number in the study."""
        return self.member.batch_id

    def as_record(self) -> ConsentRecord:
        """The per-patient record this consent will have once materialized (the grant's
        hospital, block and terms; not revoked), which the status routes answer with."""
        from chain.consent_registry import ConsentRecord  # that module imports this one

        granted = self.granted
        return ConsentRecord(
            hospital=granted.hospital,
            granted_block=granted.position.block_number,
            revoked_block=0,
            expires_at=granted.expires_at,
            valid_from=granted.valid_from,
            purposes=granted.purposes,
        )


def _compact(signature: bytes) -> tuple[bytes, bytes]:
    """A 65-byte `r || s || v` signature in EIP-2098 compact form `(r, vs)`."""
    if len(signature) != 65:
        raise ValueError(f"a consent signature has 65 bytes, not {len(signature)}")
    r, s, v = signature[:32], int.from_bytes(signature[32:64], "big"), signature[64]
    parity = v - 27 if v >= 27 else v
    if parity not in (0, 1):
        raise ValueError(f"signature v {v} is not 27 or 28")
    return r, (s | (parity << 255)).to_bytes(32, "big")


class ConsentBatchCalls(ContractFacade):
    """Batched first consents and their lazy records (a base of the `ConsentRegistry` facade)."""

    def grant_first_batch(
        self, study: StudyId, consents: Sequence[SignedConsent]
    ) -> list[RecordedBatch]:
        """Record patients' FIRST signed consents (nonce 0), `MAX_FIRST_GRANT_BATCH` per
        transaction, sorted by address as the contract requires."""
        ordered = sorted(consents, key=lambda c: int(c.patient, 16))
        batches: list[RecordedBatch] = []
        for start in range(0, len(ordered), MAX_FIRST_GRANT_BATCH):
            chunk = ordered[start : start + MAX_FIRST_GRANT_BATCH]
            receipt = self._transact(
                _GAS_BATCH + _GAS_BATCH_EACH * len(chunk),
                "grantFirstBatchWithSig",
                bytes(study),
                [(c.patient, c.terms, c.deadline, *_compact(c.signature)) for c in chunk],
            )
            batches.append(self._recorded(receipt))
        return batches

    def _recorded(self, receipt: TxReceipt) -> RecordedBatch:
        event = self._contract.events.ConsentBatchRecorded()
        topic = event_abi_to_log_topic(event.abi)
        recorded = [
            event.process_log(log)
            for log in receipt["logs"]
            if log["topics"] and bytes(log["topics"][0]) == topic
        ]  # one look at each topic: web3's process_receipt tries to decode every log
        if len(recorded) != 1:
            raise ChainError(f"expected one ConsentBatchRecorded event, found {len(recorded)}")
        granted = tuple(self._receipt_events_of(receipt, ConsentGranted))
        leaves = tuple(
            BatchLeaf(g.patient, g.purposes, g.valid_from, g.expires_at) for g in granted
        )
        args = recorded[0]["args"]
        root = bytes(args["root"])
        if batch_root(leaves) != root:
            raise ChainError("the batch's ConsentGranted logs do not rebuild its stored root")
        return RecordedBatch(int(args["batchId"]), leaves, root, granted)

    def membership(self, study: StudyId, patient: Address) -> BatchMembership | None:
        """The batch proof of `patient`'s first consent in `study`, rebuilt from the logs of the
        batch transaction that granted it (None if no batch did)."""
        found = self._batch_of(study, patient)
        return None if found is None else found[0]

    def batch_consent(self, study: StudyId, patient: Address) -> BatchConsent | None:
        """`patient`'s consent from a batch of first consents while no per-patient record is
        written (None if no batch granted one): what `consentRecord` will say once it is, and
        whether it counts now (`isConsentedInBatch` with the proof)."""
        found = self._batch_of(study, patient)
        if found is None:
            return None
        member, granted = found
        return BatchConsent(member, granted, self.is_consented_in_batch(study, patient, member))

    def _batch_of(
        self, study: StudyId, patient: Address
    ) -> tuple[BatchMembership, ConsentGranted] | None:
        grants = self._contract.events.FirstConsentGranted().get_logs(
            argument_filters={"patient": patient}, from_block=0
        )
        for log in reversed(grants):
            receipt = self.chain.w3.eth.get_transaction_receipt(HexBytes(log["transactionHash"]))
            batch = self._recorded(receipt)
            if batch.granted[0].study != study:
                continue  # the patient's batch consent in another study
            index = next(i for i, leaf in enumerate(batch.leaves) if leaf.patient == patient)
            proof = tuple(batch_proof(batch.leaves, index))
            member = BatchMembership(batch.batch_id, batch.leaves[index], proof)
            return member, batch.granted[index]
        return None

    def materialize(self, study: StudyId, patient: Address, member: BatchMembership) -> None:
        """Copy `patient`'s batch consent into their per-patient record (anyone may send it),
        so the ordinary revocation and purpose functions apply to it."""
        self._transact(
            _GAS_MATERIALIZE, "materializeConsent", *_materialize_args(study, patient, member)
        )

    def send_materialize(
        self, study: StudyId, patient: Address, member: BatchMembership
    ) -> PendingTransaction:
        """`materialize` without waiting (the relayer's batcher sends it right before the
        revocation batch, through the same sender); settle it with `materialized`."""
        return self._send(
            _GAS_MATERIALIZE, "materializeConsent", *_materialize_args(study, patient, member)
        )

    def materialized(self, pending: PendingTransaction) -> bool:
        """Wait for a sent `materializeConsent`: True if it wrote the record, False if it was
        refused because a record exists already (written meanwhile by another)."""
        try:
            self._wait(pending)
        except AlreadyMaterializedError:
            return False
        return True

    def is_consented_in_batch(
        self, study: StudyId, patient: Address, member: BatchMembership
    ) -> bool:
        """Whether the patient consents now, answered from the batch proof while no
        per-patient record exists (from the record once one does)."""
        return bool(
            self._call(
                "isConsentedInBatch",
                bytes(study),
                patient,
                member.batch_id,
                member.terms,
                list(member.proof),
            )
        )

    def batch_count(self, study: StudyId) -> int:
        """How many consent batches `study` has."""
        return int(self._call("consentBatchCount", bytes(study)))

    def batch_root(self, study: StudyId, batch_id: int) -> bytes:
        """The stored root of batch `batch_id` (32 zero bytes if there is none)."""
        return bytes(self._call_named("consentBatch", bytes(study), batch_id)["root"])


def _materialize_args(study: StudyId, patient: Address, member: BatchMembership) -> tuple[Any, ...]:
    """`materializeConsent`'s arguments, the same whether it is sent and awaited or only sent."""
    return (bytes(study), patient, member.batch_id, member.terms, list(member.proof))
