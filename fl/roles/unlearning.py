"""The aggregator's unlearning (issue 16): when to open a rollback round, on which base, serving
which revocations, under the study plan's `unlearn` policy (`consent.formats.revocation`).

Before it opens round `r`, the aggregator asks `Unlearning.rollback_for(r)`. The head is round
`r - 1`'s model; its lineage (`consent.lineage`) is checked against every revocation in the
study. If some revocation taints a lineage round, the first tainted round `b` is the rollback's
base round: round `r` is opened on `b`'s base model (the latest checkpoint whose lineage excludes
every revoked patient; the initial model at worst) and recorded on chain as a rollback serving
every revocation that taints the lineage from `b` on. Trainers need nothing special: they train
on the round's base without the revoked rows, as in every round.

Batching: a rollback is opened only when the oldest revocation it would serve is about to leave
its window, when the round about to open is the `window_rounds`-th opened after it, or when the
chain time since it plus one round timeout reaches `window_seconds`, or when the study has
trained its rounds (the head must end clean). Every revocation pending then is served by the one
rollback: fewer rollbacks cost less and leave fewer before/after model pairs to difference
(FUIA-style reconstruction). A revocation that lands during a rollback round taints it only
through an update computed before it; the next opening finds it pending and folds it in.

Resuming: the round is opened before it is recorded as a rollback. An aggregator that stopped in
between finds the open round on a base that is not the previous round's model and no rollback
record: `resume` records it (same base round, the revocations it serves).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from consent.formats.revocation import RevocationPolicy
from consent.ids import Address, Bytes32, StudyId
from consent.lineage import Revocation, RollbackRecord, first_tainted, lineage, taints
from fl.ports import LedgerPort, RoundRecord, RoundState, UnlearningPort
from fl.roles.errors import RoleError
from fl.roles.plan import StudyPlan

__all__ = ["ROLLBACK_REASON", "RollbackPlan", "Unlearning"]

logger = logging.getLogger(__name__)

OpenFrom = Callable[[int, Bytes32, str, bool], "int | None"]
"""The aggregator's opener: (round, base hash, base CID, is a rollback) -> the round opened."""

ROLLBACK_REASON = "unlearn revoked consent"


@dataclass(frozen=True, slots=True)
class RollbackPlan:
    """A rollback round to open: the record to put on chain and its base model."""

    record: RollbackRecord
    base: RoundRecord
    """The round whose base model the rollback round is opened on."""


@dataclass(slots=True)
class Unlearning:
    """Rollback decisions for one `unlearn` study (see the module docstring)."""

    study: StudyId
    ledger: LedgerPort
    port: UnlearningPort
    policy: RevocationPolicy
    round_timeout_s: float
    _closed: dict[int, RoundRecord] = field(default_factory=dict)
    _resumed: set[int] = field(default_factory=set)

    @classmethod
    def for_plan(
        cls, plan: StudyPlan, study: StudyId, ledger: LedgerPort, port: UnlearningPort | None
    ) -> Unlearning | None:
        """The decisions of `plan`'s study (None for a `forward` one); `port` defaults to the
        ledger when it satisfies `UnlearningPort`. Raises `RoleError` when neither does."""
        if not plan.revocation.unlearns:
            return None
        if port is None and isinstance(ledger, UnlearningPort):
            port = ledger
        if port is None:
            raise RoleError("an unlearn study needs the Rollbacks contract")
        return cls(study, ledger, port, plan.revocation, plan.round_timeout_s)

    def round(self, round_: int) -> RoundRecord:
        """`round_`'s record (finalized rounds are read once: they cannot change)."""
        found = self._closed.get(round_)
        if found is None:
            found = self.ledger.round(self.study, round_)
            if found.state == RoundState.FINALIZED:
                self._closed[round_] = found
        return found

    def lineage(self, head: int) -> tuple[int, ...]:
        """The rounds round `head`'s model carries (`consent.lineage.lineage`)."""
        return lineage(head, self.port.rollbacks(self.study))

    def pending(self, head: int) -> tuple[int, tuple[Revocation, ...]] | None:
        """The first round of the head's lineage a revocation taints, and the revocations that
        taint it from there on; None when the head's lineage is clean."""
        revocations = self.port.revocations(self.study)
        if not revocations:
            return None
        return first_tainted([self.round(r) for r in self.lineage(head)], revocations)

    def rollback_for(self, next_round: int, *, finishing: bool) -> RollbackPlan | None:
        """The rollback to open as `next_round`, or None to open an ordinary round. With
        `finishing` (the study has trained its rounds) any pending revocation rolls back now."""
        found = self.pending(next_round - 1)
        if found is None:
            return None
        base_round, served = found
        if not finishing and not self._window_closing(next_round, served):
            logger.info("round %d: %d revocation(s) pending, batched", next_round, len(served))
            return None
        record = RollbackRecord(next_round, base_round, ROLLBACK_REASON, _patients(served))
        return RollbackPlan(record, self.round(base_round))

    def next_base(
        self, head: RoundRecord, rounds: int
    ) -> tuple[Bytes32, str, RollbackRecord | None] | None:
        """The base (hash, CID) of the round after finalized `head` and, for a rollback, its
        record; None when the study is done (the head carries `rounds` rounds, all clean)."""
        finishing = len(self.lineage(head.round)) >= rounds
        rollback = self.rollback_for(head.round + 1, finishing=finishing)
        if rollback is not None:
            logger.info(
                "round %d: rollback to round %d's base, serving %d revocation(s)",
                head.round + 1,
                rollback.record.base_round,
                len(rollback.record.patients),
            )
            base = rollback.base
            return base.base_model_hash, base.base_model_cid, rollback.record
        return None if finishing else (head.model_hash, head.model_cid, None)

    def open_next(self, head: RoundRecord, rounds: int, open_from: OpenFrom) -> int | None:
        """Open the round after finalized `head` through `open_from(round, base hash, base CID,
        is a rollback)` and, once it is open, record the rollback it serves on chain."""
        found = self.next_base(head, rounds)
        if found is None:
            return None
        base_hash, base_cid, rollback = found
        opened = open_from(head.round + 1, base_hash, base_cid, rollback is not None)
        if opened is not None and rollback is not None:
            self.port.record_rollback(self.study, rollback)
        return opened

    def done(self, head: RoundRecord | None, rounds: int) -> bool:
        """Whether finalized `head` carries `rounds` rounds and no revocation taints them."""
        if head is None or head.state != RoundState.FINALIZED:
            return False
        return len(self.lineage(head.round)) >= rounds and self.pending(head.round) is None

    def _window_closing(self, next_round: int, served: tuple[Revocation, ...]) -> bool:
        oldest = min(served, key=lambda r: r.block)
        opened_since = sum(
            1 for r in range(next_round) if self.round(r).opened_block > oldest.block
        )
        if opened_since + 1 >= self.policy.window_rounds:
            return True
        now = self.ledger.block_timestamp(self.ledger.block_number())
        return now - oldest.timestamp + self.round_timeout_s >= self.policy.window_seconds

    def resume(self, record: RoundRecord) -> RollbackRecord | None:
        """Record open `record` as a rollback if it was opened as one and is not recorded yet
        (an aggregator stopped between opening and recording); returns what it recorded."""
        if record.round == 0 or record.round in self._resumed:
            return None
        found = self._resume(record)
        self._resumed.add(record.round)  # after a successful write (or nothing to write)
        return found

    def _resume(self, record: RoundRecord) -> RollbackRecord | None:
        if record.round in self.port.rollbacks(self.study):
            return None
        previous = self.round(record.round - 1)
        if bytes(record.base_model_hash) == bytes(previous.model_hash):
            return None  # an ordinary round
        base_round = next(
            (
                r
                for r in self.lineage(record.round - 1)
                if bytes(self.round(r).base_model_hash) == bytes(record.base_model_hash)
            ),
            None,
        )
        if base_round is None:
            logger.error("round %d: opened on a base outside its lineage", record.round)
            return None
        later = [self.round(r) for r in range(base_round, record.round)]
        served = tuple(
            v
            for v in self.port.revocations(self.study)
            if any(taints(u, v) for rec in later for u in rec.updates)
        )
        if not served:
            logger.error("round %d: a rollback serving no revocation", record.round)
            return None
        rollback = RollbackRecord(record.round, base_round, ROLLBACK_REASON, _patients(served))
        self.port.record_rollback(self.study, rollback)
        logger.info("round %d: resumed the rollback to round %d's base", record.round, base_round)
        return rollback


def _patients(served: tuple[Revocation, ...]) -> tuple[Address, ...]:
    return tuple(sorted({Address(r.patient) for r in served}, key=str.lower))
