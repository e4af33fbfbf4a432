"""The audit's rounds rebuilt from the RoundLedger's events instead of one view call a round.

The contract writes a round only in `_open` (base model, opened block, state Open), in
`submitUpdate` (one update pushed, its block the update's `submittedBlock`) and in `_finalize`
(model, metrics, finalized block, state Finalized), and each of them emits the event carrying
every field it wrote (`RoundOpened`, `UpdateSubmitted`, `RoundFinalized`). So the events of the
audited range give each round's record exactly as `getRoundWithUpdates` answers it.

A round whose events are not what the contract can emit (opened or finalized twice, an update
outside an open round, a finalization whose `updateCount` is not the number of updates, a round
with no `RoundOpened`, a round before the last one not finalized, an event past the count) is
read by view call as before (`RoundLedger.get_round_record`): the events never make the audit
trust a history the contract could not have written. The round count is always read from
storage, by view. A forged event the contract could have written (another update hash) is what
the checks catch, as a lying view answer was: the artifact check, here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from chain.events import LedgerEvent, RoundFinalized, RoundOpened, UpdateSubmitted
from chain.round_ledger import RoundLedger
from consent.ids import Bytes32, StudyId
from consent.records import RoundRecord
from consent.rounds import RoundState, UpdateRecord

__all__ = ["read_rounds"]

_EMPTY = Bytes32(bytes(32))


@dataclass(slots=True)
class _Round:
    opened: RoundOpened | None = None
    updates: list[UpdateSubmitted] = field(default_factory=list)
    finalized: RoundFinalized | None = None
    consistent: bool = True

    def add(self, event: RoundOpened | UpdateSubmitted | RoundFinalized) -> None:
        if isinstance(event, RoundOpened):
            self.consistent &= self.opened is None
            self.opened = event
        elif isinstance(event, UpdateSubmitted):
            self.consistent &= self.opened is not None and self.finalized is None
            self.updates.append(event)
        else:
            self.consistent &= self.opened is not None and self.finalized is None
            self.consistent &= event.update_count == len(self.updates)
            self.finalized = event

    def record(self, round_: int) -> RoundRecord | None:
        """The round's record, or None when its events are not the contract's."""
        if not self.consistent or self.opened is None:
            return None
        done = self.finalized
        return RoundRecord(
            round=round_,
            state=RoundState.OPEN if done is None else RoundState.FINALIZED,
            base_model_hash=self.opened.base_model_hash,
            base_model_cid=self.opened.base_model_cid,
            model_hash=_EMPTY if done is None else done.model_hash,
            model_cid="" if done is None else done.model_cid,
            metrics_cid="" if done is None else done.metrics_cid,
            opened_block=self.opened.position.block_number,
            finalized_block=0 if done is None else done.position.block_number,
            updates=tuple(_update(u) for u in self.updates),
        )


def _update(event: UpdateSubmitted) -> UpdateRecord:
    return UpdateRecord(
        hospital=event.hospital,
        update_hash=event.update_hash,
        update_cid=event.update_cid,
        num_samples=event.num_samples,
        num_patients=event.num_patients,
        data_root=event.data_root,
        consent_block=event.consent_block,
        submitted_block=event.position.block_number,
    )


def read_rounds(
    rounds: RoundLedger, study: StudyId, events: Iterable[LedgerEvent]
) -> tuple[RoundRecord, ...]:
    """Rounds 0..n-1 of `study` (n read by view) from the round ledger's `events` in chain
    order; a round whose events are inconsistent is read by view call (see the module)."""
    count = rounds.round_count(study)
    found = [_Round() for _ in range(count)]
    beyond = False  # an event of a round past the count: the logs are not the storage's
    for event in events:
        if not isinstance(event, RoundOpened | UpdateSubmitted | RoundFinalized):
            continue
        if event.study != study:
            continue
        if event.round >= count:
            beyond = True
            continue
        found[event.round].add(event)
    records = []
    for round_, seen in enumerate(found):
        # a round opens only once the one before it is finalized (`openRound`)
        early = round_ < count - 1 and seen.finalized is None
        record = None if beyond or early else seen.record(round_)
        records.append(rounds.get_round_record(study, round_) if record is None else record)
    return tuple(records)
