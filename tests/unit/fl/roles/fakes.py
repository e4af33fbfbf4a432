"""In-memory stand-ins for the ledger, the store and the consent feed, with the contract's rules
that the roles depend on (membership, once per round, sequential rounds, the freshness rule, a
finalization naming exactly the round's update count)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

from consent.contributions import ContributionRecord
from consent.errors import RoundChangedError, StaleConsentError
from consent.events import ConsentEvent, ConsentGranted, ConsentRevoked, EventPosition
from consent.ids import Address, Bytes32, StudyId
from consent.index import ConsentIndex, ConsentMask
from consent.lineage import Revocation, RollbackRecord, revocations_of
from consent.purposes import StudyPurpose
from fl.ports import (
    RoundRecord,
    RoundResult,
    RoundState,
    StudyRecord,
    UpdateRecord,
    UpdateSubmission,
)

GENESIS_TIME = 1_700_000_000


class FakeRefusalError(RuntimeError):
    """A rule of the fake contract was broken."""


@dataclass
class FakeChain:
    """Blocks, consent events and rounds; every write mines one block (12 s apart)."""

    study: StudyRecord
    block: int = 1
    events: list[ConsentEvent] = field(default_factory=list)
    last_revocation: dict[Address, int] = field(default_factory=dict)
    consent_hospital: dict[Address, Address] = field(default_factory=dict)
    rounds: list[RoundRecord] = field(default_factory=list)
    before_submit: list[Callable[[], object]] = field(default_factory=list)
    before_finalize: list[Callable[[], object]] = field(default_factory=list)
    contributions: dict[int, ContributionRecord] = field(default_factory=dict)
    """Round -> the Contributions contract's record of it."""
    rollbacks: dict[int, RollbackRecord] = field(default_factory=dict)
    """Round -> the Rollbacks contract's record of it."""
    before_rollback: list[Callable[[], object]] = field(default_factory=list)

    def mine(self) -> int:
        self.block += 1
        return self.block

    def timestamp(self, block: int) -> int:
        return GENESIS_TIME + 12 * block

    def grant(self, patient: Address, hospital: Address, expires_at: int = 0) -> int:
        previous = self.consent_hospital.get(patient)
        block = self.mine()
        if previous is not None and previous != hospital:
            self._revoked(patient, previous, block)
        self.consent_hospital[patient] = hospital
        self.events.append(
            ConsentGranted(
                self.study.study, patient, hospital, expires_at, 0,
                EventPosition(block, len(self.events)), "0x", self.timestamp(block),
            )
        )  # fmt: skip
        return block

    def revoke(self, patient: Address) -> int:
        hospital = self.consent_hospital.pop(patient)
        block = self.mine()
        self._revoked(patient, hospital, block)
        return block

    def _revoked(self, patient: Address, hospital: Address, block: int) -> None:
        self.last_revocation[hospital] = block
        self.events.append(
            ConsentRevoked(
                self.study.study, patient, hospital,
                EventPosition(block, len(self.events)), "0x", self.timestamp(block),
            )
        )  # fmt: skip


class FakeLedger:
    """`fl.ports.LedgerPort` over a `FakeChain`, sending as `sender`."""

    def __init__(self, chain: FakeChain, sender: Address) -> None:
        self.chain = chain
        self._sender = sender

    @property
    def sender(self) -> Address:
        return self._sender

    def block_number(self) -> int:
        return self.chain.block

    def block_timestamp(self, block: int) -> int:
        return self.chain.timestamp(block)

    def study(self, study: StudyId) -> StudyRecord:
        return self.chain.study

    def round_count(self, study: StudyId) -> int:
        return len(self.chain.rounds)

    def round(self, study: StudyId, round_: int) -> RoundRecord:
        if round_ >= len(self.chain.rounds):  # never opened: the contract's zero record
            return RoundRecord.never_opened(round_)
        return self.chain.rounds[round_]

    def open_round(
        self, study: StudyId, round_: int, base_model_hash: Bytes32, base_model_cid: str
    ) -> int:
        rounds = self.chain.rounds
        if self._sender != self.chain.study.aggregator or round_ != len(rounds):
            raise FakeRefusalError("not the aggregator or not the next round")
        if rounds and rounds[-1].state != RoundState.FINALIZED:
            raise FakeRefusalError("previous round not finalized")
        block = self.chain.mine()
        rounds.append(
            RoundRecord(
                round=round_,
                state=RoundState.OPEN,
                base_model_hash=base_model_hash,
                base_model_cid=base_model_cid,
                opened_block=block,
            )
        )
        return block

    def submit_update(self, study: StudyId, round_: int, submission: UpdateSubmission) -> int:
        for hook in list(self.chain.before_submit):
            hook()
        record = self.chain.rounds[round_]
        if self._sender not in self.chain.study.hospitals or record.state != RoundState.OPEN:
            raise FakeRefusalError("not a member or round not open")
        if any(u.hospital == self._sender for u in record.updates):
            raise FakeRefusalError("already submitted")
        last = self.chain.last_revocation.get(self._sender, 0)
        if submission.consent_block < last:
            raise StaleConsentError(submission.consent_block, last)
        block = self.chain.mine()
        update = UpdateRecord(
            self._sender,
            submission.update_hash,
            submission.update_cid,
            submission.num_samples,
            submission.num_patients,
            submission.data_root,
            submission.consent_block,
            block,
        )
        self.chain.rounds[round_] = replace(record, updates=(*record.updates, update))
        return block

    def finalize_round(self, study: StudyId, round_: int, result: RoundResult) -> int:
        for hook in list(self.chain.before_finalize):
            hook()
        record = self.chain.rounds[round_]
        if self._sender != self.chain.study.aggregator or record.state != RoundState.OPEN:
            raise FakeRefusalError("not the aggregator or round not open")
        if len(record.updates) < self.chain.study.min_updates:
            raise FakeRefusalError("not enough updates")
        if result.considered_updates != len(record.updates):
            raise RoundChangedError(round_, result.considered_updates, len(record.updates))
        block = self.chain.mine()
        self.chain.rounds[round_] = replace(
            record,
            state=RoundState.FINALIZED,
            model_hash=result.model_hash,
            model_cid=result.model_cid,
            metrics_cid=result.metrics_cid,
            finalized_block=block,
        )
        return block

    def contributions_recorded(self, study: StudyId, round_: int) -> bool:
        return round_ in self.chain.contributions

    def record_contributions(self, study: StudyId, round_: int, record: ContributionRecord) -> int:
        finalized = round_ < len(self.chain.rounds) and (
            self.chain.rounds[round_].state == RoundState.FINALIZED
        )
        if self._sender != self.chain.study.aggregator or not finalized:
            raise FakeRefusalError("not the aggregator or round not finalized")
        if round_ in self.chain.contributions:
            raise FakeRefusalError("contributions already recorded")
        self.chain.contributions[round_] = record
        return self.chain.mine()


class FakePipelineLedger(FakeLedger):
    """A `FakeLedger` that also satisfies `fl.ports.RoundPipelinePort` (issue 19): the latest
    round in one read, and finalize-and-open in one write, refused as `finalize_round` is with
    nothing changed."""

    def latest_round(self, study: StudyId) -> RoundRecord | None:
        return self.chain.rounds[-1] if self.chain.rounds else None

    def finalize_and_open_round(self, study: StudyId, round_: int, result: RoundResult) -> int:
        block = self.finalize_round(study, round_, result)  # raises before changing anything
        self.chain.rounds.append(
            RoundRecord(
                round=round_ + 1, state=RoundState.OPEN, base_model_hash=result.model_hash,
                base_model_cid=result.model_cid, opened_block=block,
            )
        )  # fmt: skip
        return block


class FakeUnlearningLedger(FakeLedger):
    """A `FakeLedger` that also satisfies `fl.ports.UnlearningPort`, with the Rollbacks
    contract's rules (aggregator only, an open round recorded once, a base in the history whose
    base model the round was opened on, revoked patients only)."""

    def rollbacks(self, study: StudyId) -> dict[int, RollbackRecord]:
        return dict(self.chain.rollbacks)

    def record_rollback(self, study: StudyId, record: RollbackRecord) -> int:
        for hook in list(self.chain.before_rollback):
            hook()
        rounds = self.chain.rounds
        if self._sender != self.chain.study.aggregator or record.round in self.chain.rollbacks:
            raise FakeRefusalError("not the aggregator or already recorded")
        if record.round >= len(rounds) or rounds[record.round].state != RoundState.OPEN:
            raise FakeRefusalError("round not open")
        if not record.base_round < record.round:
            raise FakeRefusalError("base outside the study's history")
        if not 0 < record.shard_mask < 1 << record.shards:
            raise FakeRefusalError("shard mask out of range")
        every = record.shard_mask == (1 << record.shards) - 1
        same = rounds[record.base_round].base_model_hash == rounds[record.round].base_model_hash
        if every and not same:  # the contract cannot check a partial shard rollback's base
            raise FakeRefusalError("base model mismatch")
        revoked = {r.patient for r in self.revocations(study)}
        if not record.patients or not set(record.patients) <= revoked:
            raise FakeRefusalError("a patient that did not revoke")
        block = self.chain.mine()
        self.chain.rollbacks[record.round] = replace(record, recorded_block=block)
        return block

    def revocations(self, study: StudyId) -> list[Revocation]:
        return revocations_of(self.chain.events)


class FakeStore:
    """Content-addressed by SHA-256 hex (good enough for the roles, which re-check hashes)."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    def put(self, data: bytes) -> str:
        cid = "fake-" + hashlib.sha256(data).hexdigest()
        self.blobs[cid] = bytes(data)
        return cid

    def get(self, cid: str) -> bytes:
        return self.blobs[cid]


class IndexConsentView:
    """A consent view (`fl.ports.ConsentViewPort`) over a real `ConsentIndex`, already synced."""

    def __init__(self, index: ConsentIndex) -> None:
        self.index = index

    def sync(self) -> int:
        return self.index.synced_block

    def mask(
        self,
        study: StudyId,
        patients: Sequence[Address],
        block: int,
        block_timestamp: int,
        purpose: StudyPurpose | None = None,
    ) -> ConsentMask:
        rows = self.index.resolve(patients)
        return self.index.mask(study, rows, block, block_timestamp, purpose)

    def patients(self, study: StudyId, hospital: str) -> tuple[Address, ...]:
        return self.index.patients(study, hospital)

    def history(self, study: StudyId, patient: str) -> list[ConsentEvent]:
        return self.index.history(study, patient)

    def histories(
        self, study: StudyId, patients: Iterable[str]
    ) -> dict[Address, list[ConsentEvent]]:
        return self.index.histories(study, patients)

    def revoked_since(self, study: StudyId, hospital: str, block: int) -> tuple[Address, ...]:
        return self.index.revoked_since(study, hospital, block)


class FakeConsent(IndexConsentView):
    """A consent view fed from the fake chain's events, over a real in-memory `ConsentIndex`."""

    def __init__(self, chain: FakeChain) -> None:
        super().__init__(ConsentIndex(":memory:"))
        self.chain = chain
        self.syncs = 0

    def sync(self) -> int:
        self.syncs += 1
        block = self.chain.block
        fresh = [e for e in self.chain.events if e.position.block_number > self.index.synced_block]
        self.index.apply(fresh, synced_through=block)
        return block
