"""Modes "sealed" and "dp": one round's aggregation, from its updates to its finalization.

Every update is taken in (`fl.roles.collect`) while the study's members are read, the round
re-read once they are verified unless every member's update is already in it, then
published and finalized (`fl.roles.aggregator_outcome.publish_and_finalize`), naming how many of
the round's updates were considered. If an update landed after the round was read, the ledger
refuses (`RoundChangedError`) and the round is re-read and aggregated again with it, so every
update on the ledger is either aggregated or listed as rejected. The secagg modes have their own
close and reveal steps (`fl.roles.secagg_aggregation`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Final

from torch import Tensor

from consent.errors import RoundChangedError
from consent.ids import StudyId
from consent.records import StudyRecord
from fl.data import Examples
from fl.ports import ArtifactStorePort, LedgerPort, RoundRecord
from fl.roles.aggregator_outcome import Finalized, Sealed, publish_and_finalize
from fl.roles.collect import UpdateIntake
from fl.roles.errors import RoundKeptChangingError
from fl.roles.overlap import overlapped
from fl.roles.plan import StudyPlan

__all__ = ["MAX_ROUND_READS", "SealedAggregation"]

logger = logging.getLogger(__name__)

MAX_ROUND_READS: Final = 5
"""Reads of a round per `finalize`: each read after the first follows a newly landed update."""


@dataclass(frozen=True, slots=True)
class SealedAggregation:
    """How an aggregator finalizes a round of sealed updates (see the module docstring)."""

    study: StudyId
    ledger: LedgerPort
    store: ArtifactStorePort
    plan: StudyPlan
    intake: UpdateIntake
    validation: Examples | None
    test_set: Examples | None

    def finalize(
        self,
        record: RoundRecord,
        base: dict[str, Tensor],
        *,
        open_next: bool,
        writing: Callable[[], AbstractContextManager[None]],
    ) -> Finalized:
        """Verify, aggregate, publish and finalize `record` (open) on `base`; `open_next` as in
        `publish_and_finalize`, each ledger write inside `writing()`.

        The round is re-read once the updates are verified, so the common case (an update
        landing during the slow fetch-and-unseal) costs no refused transaction. After
        `MAX_ROUND_READS` reads that all found the round changed, `RoundKeptChangingError` is
        raised (the round stays open; a later call starts over).
        """
        for _ in range(MAX_ROUND_READS):
            # the study's members are read while the updates are fetched and verified
            (accepted, rejected), members = overlapped(
                functools.partial(self.intake.verified, record, base),
                functools.partial(self.ledger.study, self.study),
            )
            if not _all_submitted(record, members):  # an update may land yet: read the round
                latest = self.ledger.round(self.study, record.round)
                if len(latest.updates) != len(record.updates):
                    logger.info("round %d: updates arrived while verifying: re-read", record.round)
                    record = latest
                    continue
            try:
                with writing():
                    done = publish_and_finalize(
                        self.plan,
                        self.store,
                        self.ledger,
                        record,
                        Sealed(base, accepted, rejected),
                        study=self.study,
                        members=members,
                        validation=self.validation,
                        test_set=self.test_set,
                        open_next=open_next,
                    )
            except RoundChangedError as exc:
                logger.info(
                    "round %d: finalization refused (%d updates considered, %d on the ledger): "
                    "re-aggregating",
                    record.round,
                    exc.considered,
                    exc.submitted,
                )
                record = self.ledger.round(self.study, record.round)
                continue
            self.intake.forget(record.round)
            return done
        raise RoundKeptChangingError(record.round, MAX_ROUND_READS)


def _all_submitted(record: RoundRecord, members: StudyRecord) -> bool:
    """Whether every member hospital's update is in `record` (one update per hospital and round:
    the ledger refuses a second). A hospital admitted after `members` was read can still submit;
    then the finalization names too few considered updates and the ledger refuses it
    (`RoundChangedError`, handled as any update landing late)."""
    submitted = {u.hospital for u in record.updates}
    return all(h in submitted for h in members.hospitals)
