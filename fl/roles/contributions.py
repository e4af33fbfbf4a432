"""The aggregator's on-chain record of each finalized round's judgement (issue 15).

After finalizing a round, the aggregator records in the Contributions contract the digest of the
round's decisions and contribution values (`RoundMetrics.judgement_digest`) and each hospital's
value (`consent.contributions.ContributionRecord`), which the contract sums into the cumulative
value per (study, hospital). The record is built from the metrics artifact as stored (read back
by CID), so it is exactly what an auditor recomputes from it; a round whose record is missing
(the aggregator stopped between the two transactions) is recorded on the next poll.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from consent.contributions import ContributionRecord
from consent.formats.round_metrics import RoundMetrics
from consent.ids import StudyId
from fl.ports import ArtifactStorePort, ContributionsPort, LedgerPort, RoundRecord, RoundState

__all__ = ["ContributionsRecorder", "contribution_record", "record_contributions"]

logger = logging.getLogger(__name__)


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

    def catch_up(self) -> int:
        """Record the finalized rounds from `next_round` on; returns how many were sent."""
        sent = 0
        for round_ in range(self.next_round, self.ledger.round_count(self.study)):
            record = self.ledger.round(self.study, round_)
            if record.state != RoundState.FINALIZED:
                break
            sent += record_contributions(self.port, self.store, self.study, record)
            self.next_round = round_ + 1
        return sent
