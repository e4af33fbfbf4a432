"""The parts of the aggregator that a study plan's modes add, built once from the plan.

Privacy modes "secagg" and "dp+secagg" run their rounds through `SecAggAggregation`; an `unlearn`
revocation policy opens rollback rounds through `Unlearning`. Each is None when its mode is off.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from consent.ids import StudyId
from fl.data import Examples
from fl.ports import ArtifactStorePort, LedgerPort, SecAggPort, UnlearningPort
from fl.roles.plan import StudyPlan
from fl.roles.secagg_aggregation import SecAggAggregation
from fl.roles.unlearning import Unlearning

__all__ = ["ModeParts"]


@dataclass(frozen=True, slots=True)
class ModeParts:
    """What a study's modes add to its aggregator (None: the mode is off)."""

    secagg: SecAggAggregation | None
    """Modes "secagg", "dp+secagg": how the aggregator runs its rounds."""
    unlearning: Unlearning | None
    """Revocation policy `unlearn`: the rollback decisions."""

    @property
    def plain(self) -> bool:
        """Neither mode is on: the aggregator alone decides when a round opens."""
        return self.secagg is None and self.unlearning is None

    @classmethod
    def for_plan(
        cls,
        plan: StudyPlan,
        *,
        study: StudyId,
        ledger: LedgerPort,
        store: ArtifactStorePort,
        secagg_port: SecAggPort | None = None,
        unlearning_port: UnlearningPort | None = None,
        test_set: Examples | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> ModeParts:
        """The parts `plan` asks for; each port defaults to the ledger when it serves it
        (`RoleError` when an `unlearn` study has no Rollbacks contract either way)."""
        return cls(
            secagg=SecAggAggregation.for_plan(
                plan, study=study, ledger=ledger, port=secagg_port, store=store,
                test_set=test_set, clock=clock,
            ),
            unlearning=Unlearning.for_plan(plan, study, ledger, unlearning_port, store),
        )  # fmt: skip
