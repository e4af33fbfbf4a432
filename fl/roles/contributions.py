"""The aggregator's on-chain record of each finalized round's judgement (issue 15).

After finalizing a round, the aggregator records in the Contributions contract the digest of the
round's decisions and contribution values (`RoundMetrics.judgement_digest`) and each hospital's
value (`consent.contributions.ContributionRecord`), which the contract sums into the cumulative
value per (study, hospital). The record is built from the metrics artifact as stored (read back
by CID), so it is exactly what an auditor recomputes from it; a round whose record is missing
(the aggregator stopped between the two transactions) is recorded on the next poll.

With a port that can send without waiting (`PipelinedContributionsPort`, issue 19), the round
this process just finalized is recorded without reading the chain first (this aggregator
recorded every round before it) and its receipt is settled later: before the next record, on
the next catch-up, or when the aggregator is asked to (`settle`; the embedded study does it
while its hospitals train). A refusal raises then, and the round is checked again by the next
catch-up: nothing is lost.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from consent.contributions import ContributionRecord
from consent.formats.round_metrics import RoundMetrics
from consent.ids import StudyId
from fl.ports import ArtifactStorePort, ContributionsPort, LedgerPort, RoundRecord, RoundState

__all__ = [
    "ContributionsRecorder",
    "PipelinedContributionsPort",
    "contribution_record",
    "record_contributions",
]

logger = logging.getLogger(__name__)


@runtime_checkable
class PipelinedContributionsPort(Protocol):
    """A contributions port that sends a record without waiting for its receipt."""

    def send_contributions(self, study: StudyId, round_: int, record: ContributionRecord) -> Any:
        """Send the record; the returned handle goes to `settle_contributions`."""
        ...

    def settle_contributions(self, pending: Any) -> int:
        """Wait for a sent record; its block (a refusal raises its named error)."""
        ...


def contribution_record(metrics: RoundMetrics) -> ContributionRecord:
    """What the contract records for the round of `metrics`."""
    return ContributionRecord.of(metrics.judgement_digest(), metrics.contribution_values())


def record_contributions(
    port: ContributionsPort, store: ArtifactStorePort, study: StudyId, record: RoundRecord
) -> bool:
    """Record finalized `record`'s judgement unless it is on chain already; whether it was sent."""
    if record.state != RoundState.FINALIZED or port.contributions_recorded(study, record.round):
        return False
    metrics = RoundMetrics.from_json_bytes(store.get(record.metrics_cid))
    block = port.record_contributions(study, record.round, contribution_record(metrics))
    logger.info("round %d: contributions recorded in block %d", record.round, block)
    return True


@dataclass(slots=True)
class ContributionsRecorder:
    """The aggregator's catch-up: records every finalized round not recorded yet, in order."""

    port: ContributionsPort
    store: ArtifactStorePort
    ledger: LedgerPort
    study: StudyId
    next_round: int = 0
    """Rounds before it are known to be recorded (or were checked) by this process."""
    pending: tuple[int, Any] | None = None
    """A round's record sent without waiting, and the handle to settle it with."""

    def record_finalized(self, round_: int, metrics_cid: str) -> int:
        """Record `round_`, which this process just finalized with metrics at `metrics_cid`:
        sent without waiting when the port allows it and every earlier round is recorded (no
        reads), else `catch_up`. Returns how many records were sent."""
        self.settle()
        port = self.port
        if not isinstance(port, PipelinedContributionsPort) or self.next_round != round_:
            return self.catch_up()
        record = contribution_record(RoundMetrics.from_json_bytes(self.store.get(metrics_cid)))
        self.pending = (round_, port.send_contributions(self.study, round_, record))
        self.next_round = round_ + 1
        return 1

    def settle(self) -> None:
        """Wait for the record sent without waiting, if any; a refusal raises, and the round
        is checked again by the next `catch_up`."""
        if self.pending is None:
            return
        (round_, handle), self.pending = self.pending, None
        assert isinstance(self.port, PipelinedContributionsPort)
        try:
            block = self.port.settle_contributions(handle)
        except BaseException:
            self.next_round = min(self.next_round, round_)
            raise
        logger.info("round %d: contributions recorded in block %d", round_, block)

    def catch_up(self) -> int:
        """Record the finalized rounds from `next_round` on; returns how many were sent."""
        self.settle()
        sent = 0
        for round_ in range(self.next_round, self.ledger.round_count(self.study)):
            record = self.ledger.round(self.study, round_)
            if record.state != RoundState.FINALIZED:
                break
            sent += record_contributions(self.port, self.store, self.study, record)
            self.next_round = round_ + 1
        return sent
