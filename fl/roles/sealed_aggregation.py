"""Modes "sealed" and "dp": one round's aggregation, from its updates to its finalization.

Every update is taken in (`fl.roles.collect`), the round re-read once they are verified, then
published and finalized (`fl.roles.aggregator_outcome.publish_and_finalize`), naming how many of
the round's updates were considered. If an update landed after the round was read, the ledger
refuses (`RoundChangedError`) and the round is re-read and aggregated again with it, so every
update on the ledger is either aggregated or listed as rejected. The secagg modes have their own
close and reveal steps (`fl.roles.secagg_aggregation`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Final

from torch import Tensor

from consent.errors import RoundChangedError
from consent.ids import StudyId
from fl.data import Examples
from fl.ports import ArtifactStorePort, LedgerPort, RoundRecord
from fl.roles.aggregator_outcome import Finalized, Sealed, publish_and_finalize
from fl.roles.collect import UpdateIntake
from fl.roles.errors import RoundKeptChangingError
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
            accepted, rejected = self.intake.verified(record, base)
            latest = self.ledger.round(self.study, record.round)
            if len(latest.updates) != len(record.updates):
                logger.info("round %d: updates arrived while verifying: reloading", record.round)
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
