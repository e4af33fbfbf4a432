"""Typed facade of the Contributions contract: each finalized round's judgement digest and the
hospitals' contribution values, and the cumulative value per (study, hospital) a reward is paid
on (issue 15). The record crosses floors as `consent.contributions.ContributionRecord`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from chain._facade import ContractFacade
from chain.events import ContributionsRecorded, LedgerEvent
from chain.transactions import PendingTransaction
from consent.contributions import ContributionRecord
from consent.ids import Address, Bytes32, StudyId

__all__ = ["Contributions", "ContributionsSnapshot", "RecordedRound"]

_GAS_BASE: Final = 300_000
_GAS_PER_VALUE: Final = 75_000
"""Two fresh storage slots (round value, cumulative value) and a round-ledger look-up each;
the base covers reading the study and the round (their CID strings) from the other contracts."""


@dataclass(frozen=True, slots=True)
class RecordedRound:
    """A round's on-chain contribution record (`recorded_block` 0: not recorded)."""

    judgement_hash: Bytes32
    recorded_block: int
    value_count: int

    @property
    def recorded(self) -> bool:
        """Whether the aggregator recorded the round."""
        return self.recorded_block != 0


@dataclass(frozen=True, slots=True)
class ContributionsSnapshot:
    """What the contract holds for one study, as the audit reads it (values scaled)."""

    rounds: Mapping[int, RecordedRound] = field(default_factory=dict)
    round_values: Mapping[tuple[int, Address], int] = field(default_factory=dict)
    """(round, hospital) -> the hospital's value in the round."""
    cumulative: Mapping[Address, int] = field(default_factory=dict)
    """Hospital -> cumulative value."""


class Contributions(ContractFacade):
    """Records (the study's aggregator) and reads (anyone) the rounds' contribution values."""

    CONTRACT = "Contributions"

    def record_round(
        self, study: StudyId, round_: int, record: ContributionRecord
    ) -> ContributionsRecorded:
        """Record finalized `round_`'s judgement digest and values (once per round)."""
        return self.settle_record(self.send_record_round(study, round_, record))

    def send_record_round(
        self, study: StudyId, round_: int, record: ContributionRecord
    ) -> PendingTransaction:
        """`record_round`'s transaction, sent without waiting (settle with `settle_record`)."""
        return self._send(
            _GAS_BASE + _GAS_PER_VALUE * len(record.hospitals),
            "recordRound",
            bytes(study),
            round_,
            bytes(record.judgement_hash),
            list(record.hospitals),
            list(record.values),
        )

    def settle_record(self, pending: PendingTransaction) -> ContributionsRecorded:
        """The event of a sent `send_record_round`; a refusal raises its named error now."""
        return self._single_event(self._wait(pending), ContributionsRecorded)

    def get_round(self, study: StudyId, round_: int) -> RecordedRound:
        """`round_`'s record (not `recorded` if the aggregator has not recorded it)."""
        raw = self._call_named("getRound", bytes(study), round_)
        return RecordedRound(
            Bytes32(bytes(raw["judgementHash"])),
            int(raw["recordedBlock"]),
            int(raw["valueCount"]),
        )

    def round_value(self, study: StudyId, round_: int, hospital: Address) -> int:
        """`hospital`'s value in `round_`, scaled (0 if none was recorded)."""
        return int(self._call("roundValue", bytes(study), round_, hospital))

    def cumulative_value(self, study: StudyId, hospital: Address) -> int:
        """`hospital`'s values in `study` summed over the recorded rounds, scaled."""
        return int(self._call("cumulativeValue", bytes(study), hospital))

    def snapshot(
        self, study: StudyId, participants: Mapping[int, Iterable[Address]]
    ) -> ContributionsSnapshot:
        """The records of the rounds in `participants` (round -> its hospitals), their values
        and every participant's cumulative value."""
        rounds = {r: self.get_round(study, r) for r in participants}
        values = {
            (r, h): self.round_value(study, r, h)
            for r, found in participants.items()
            for h in found
        }
        everyone = sorted({h for _, h in values})
        return ContributionsSnapshot(
            rounds, values, {h: self.cumulative_value(study, h) for h in everyone}
        )

    def snapshot_of_events(
        self,
        study: StudyId,
        events: Iterable[LedgerEvent],
        participants: Mapping[int, Iterable[Address]],
    ) -> ContributionsSnapshot:
        """`snapshot`'s answer with the rounds' records and values taken from this contract's
        `ContributionsRecorded` events among `events` instead of 1 + n view calls a round.

        `recordRound` is the only writer of a round's record and values, and writes them once:
        its event carries the digest and the values, its block is the record's `recordedBlock`,
        the value count is the number of values. The cumulative values are read by view as
        before (storage, summed by the contract: the audit still compares them with the
        metrics). Two events for one round (a forged log: the contract refuses a second record)
        leave the round recorded with a zero digest, which no metrics' digest matches."""
        rounds = {r: RecordedRound(Bytes32(bytes(32)), 0, 0) for r in participants}
        recorded: dict[tuple[int, Address], int] = {}
        for event in events:
            if not isinstance(event, ContributionsRecorded) or event.study != study:
                continue
            if event.round in rounds and rounds[event.round].recorded:
                rounds[event.round] = RecordedRound(
                    Bytes32(bytes(32)), rounds[event.round].recorded_block, -1
                )
                continue
            block = event.position.block_number
            rounds[event.round] = RecordedRound(event.judgement_hash, block, len(event.values))
            for hospital, value in zip(event.hospitals, event.values, strict=True):
                recorded[(event.round, hospital)] = value
        values = {
            (r, h): recorded.get((r, h), 0) for r, found in participants.items() for h in found
        }
        rounds = {r: rounds[r] for r in participants}
        everyone = sorted({h for _, h in values})
        return ContributionsSnapshot(
            rounds, values, {h: self.cumulative_value(study, h) for h in everyone}
        )
