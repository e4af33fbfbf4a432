"""The aggregator role: opens rounds, collects verified updates, aggregates and finalizes.

Per round `r`:

1. `open_round(r, base)`: round 0's base is the plan's initial model; round `r + 1`'s base is the
   model finalized in round `r`.
2. Wait until every member hospital submitted, or at least the study's minimum did and the round
   timeout (from the plan) has passed since this aggregator saw the round open.
3. Take in every update (`fl.roles.collect`): fetch by CID, check SHA-256 against the ledger,
   decode with the plan's codec, check the update envelope, deserialize against the learner's
   template, screen. Any failure rejects that hospital's update with its reason (as data, in the
   outcome and the metrics artifact), never silently.
4. Combine the kept updates with the plan's learner and strategy (FedAvg: weighted by the
   on-chain patient count), whose report is a decision per update; evaluate on the held-out
   test set if given; put the model and the metrics artifact (`consent.formats.round_metrics`,
   with the decisions); `finalize_round` naming how many of the round's updates were considered
   (with a `RoundPipelinePort` ledger and nothing else deciding it, round `r + 1` opens in the
   same transaction: `finalize_and_open_round`).
   If an update landed after the aggregator read the round, the ledger refuses
   (`RoundChangedError`) and the aggregator re-reads and redoes steps 3-4 with it, so every
   update on the ledger is either aggregated or listed as rejected.

State lives on the ledger: a restarted aggregator reads the latest round and carries on
(re-fetching the current base model and checking its hash). `run()` is the shared role loop.

A robust strategy (`fl.strategies`) may reject an update that passed screening: it is then listed
as rejected with the strategy's reason, not aggregated. With a valuation in the plan, each round's
contribution values (`fl.roles.judging`, on the validation set) go into the metrics'
`extensions["contributions"]`.

In a study whose revocation policy is `unlearn`, `rounds` counts the rounds the head's lineage
carries, and a round may open as a rollback (`fl.roles.unlearning`); the study is done once the
head carries `rounds` rounds and no revocation taints its lineage.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from torch import Tensor

from consent.ids import Bytes32, StudyId
from fl.data import Examples
from fl.ports import (
    ArtifactStorePort,
    ContributionsPort,
    LedgerPort,
    RoundPipelinePort,
    RoundRecord,
    RoundState,
    SecAggPort,
    UnlearningPort,
)
from fl.roles.aggregator_modes import ModeParts
from fl.roles.aggregator_outcome import (
    AggregatorOutcome,
    LatestRound,
    latest_after,
)
from fl.roles.artifacts import Artifact, fetch_verified
from fl.roles.budget import study_end
from fl.roles.collect import RejectedHospital, UpdateIntake
from fl.roles.contributions import ContributionsRecorder
from fl.roles.errors import RoleError
from fl.roles.loop import run_role
from fl.roles.plan import StudyPlan
from fl.roles.sealed_aggregation import SealedAggregation
from fl.roles.secagg_aggregation import SecAggAggregation
from fl.serialize import bytes_to_state_dict, state_dict_to_bytes

__all__ = ["Aggregator", "AggregatorOutcome", "RejectedHospital"]

logger = logging.getLogger(__name__)


class Aggregator:
    """The study's aggregator: `start()` + `poll()` step-wise, or `run()` to loop."""

    def __init__(
        self,
        *,
        study: bytes,
        ledger: LedgerPort,
        store: ArtifactStorePort,
        seal_key: X25519PrivateKey,
        rounds: int,
        test_set: Examples | None = None,
        validation_set: Examples | None = None,
        plan: StudyPlan | None = None,
        clock: Callable[[], float] = time.monotonic,
        contributions: ContributionsPort | None = None,
        unlearning: UnlearningPort | None = None,
        secagg: SecAggPort | None = None,
    ) -> None:
        if rounds < 1:
            raise RoleError(f"rounds must be >= 1, got {rounds}")
        self.study = StudyId(bytes(study))
        self._ledger = ledger
        self._store = store
        self._seal_key = seal_key
        self.rounds = rounds
        self._test_set = test_set
        self._validation_set = test_set if validation_set is None else validation_set
        """Rows FLTrust's root update and contribution values use (the test set if None)."""
        self._plan = plan
        self._clock = clock
        self._base: tuple[int, dict[str, Tensor]] | None = None
        self._seen_open: dict[int, float] = {}
        self._latest: LatestRound | None = None
        self._intake: UpdateIntake | None = None
        self.ended: str | None = None
        """Why the study ended before `rounds` rounds (dp mode: no budget left), if it did."""
        self._contributions = None
        if contributions is not None:
            self._contributions = ContributionsRecorder(contributions, store, ledger, self.study)
        """Where each finalized round's judgement is recorded (None: not recorded on chain)."""
        self._unlearning_port = unlearning  # Rollbacks (None: the ledger's, if it has one)
        self._secagg_port = secagg  # the SecAggCoordinator (None: the ledger's, if it serves it)
        self._modes: ModeParts | None = None

    def plan(self) -> StudyPlan:
        """The study's plan, read once from the study's metadata artifact."""
        if self._plan is None:
            record = self._ledger.study(self.study)
            self._plan = StudyPlan.from_json_bytes(self._store.get(record.metadata_cid))
        return self._plan

    def intake(self) -> UpdateIntake:
        """How this aggregator takes in updates (the plan's codec and learner)."""
        if self._intake is None:
            plan = self.plan()
            self._intake = UpdateIntake(
                store=self._store,
                seal_key=self._seal_key,
                codec=plan.make_codec(),
                learner=plan.make_learner(),
            )
        return self._intake

    def modes(self) -> ModeParts:
        """What the plan's modes add (secure aggregation, unlearning), built once."""
        if self._modes is None:
            self._modes = ModeParts.for_plan(
                self.plan(),
                study=self.study,
                ledger=self._ledger,
                store=self._store,
                secagg_port=self._secagg_port,
                unlearning_port=self._unlearning_port,
                test_set=self._test_set,
                clock=self._clock,
            )
        return self._modes

    def secagg(self) -> SecAggAggregation | None:
        """Modes "secagg", "dp+secagg": how this aggregator runs its rounds (None in others)."""
        return self.modes().secagg

    # --- steps ----------------------------------------------------------------------------------

    def current_round(self) -> RoundRecord | None:
        """The latest round on the ledger (None before round 0)."""
        if isinstance(self._ledger, RoundPipelinePort):
            return self._ledger.latest_round(self.study)  # one read
        count = self._ledger.round_count(self.study)
        return None if count == 0 else self._ledger.round(self.study, count - 1)

    def known_open(self) -> int | None:
        """The round this aggregator's own last successful write left open (it opened it, or
        finalized the one before in the same transaction), None when it does not know one
        without reading the ledger. Hospitals cannot close a round, so it is still open."""
        latest = self._latest
        return latest.round if latest is not None and latest.state == RoundState.OPEN else None

    def done(self) -> bool:
        """Whether all `rounds` rounds are finalized (or the privacy budget ended the study)."""
        if self.ended is not None:
            return True
        unlearning = self.modes().unlearning
        if unlearning is not None:
            return unlearning.done(self.current_round(), self.rounds)
        latest = self._latest
        if latest is None:
            record = self.current_round()
            if record is None:
                return False
            latest = LatestRound(record.round, record.state)
        return latest.round >= self.rounds - 1 and latest.state == RoundState.FINALIZED

    def start(self) -> int | None:
        """Open the next round if none is open and rounds remain; returns the round opened.

        Called again after a restart, it resumes: an open round is left open (keep polling it).
        Right after this aggregator's own successful write it needs no ledger read (see
        `LatestRound`); otherwise it reads the latest round and fetches and verifies its model.
        """
        unlearning = self.modes().unlearning
        latest = self._latest
        if latest is not None and unlearning is None:
            if latest.state == RoundState.OPEN or latest.round + 1 >= self.rounds:
                return None
            if latest.model is not None:
                return self._open(latest.round + 1, latest.model)
        record = self.current_round()
        if record is None:
            state = self.plan().initial_state()
            return self._open(0, Artifact.of(state_dict_to_bytes(state)), state)
        if record.state == RoundState.OPEN:
            if unlearning is not None:
                with self._writing():  # a rollback opened before a restart is recorded now
                    unlearning.resume(record)
            return None
        if unlearning is not None:
            with self._writing():
                return unlearning.open_next(record, self.rounds, self._open_from)
        if record.round + 1 >= self.rounds:
            return None
        data = fetch_verified(self._store, record.model_cid, record.model_hash)
        return self._open(record.round + 1, Artifact(data, record.model_hash, record.model_cid))

    def _open_from(self, round_: int, base_hash: Bytes32, cid: str, rollback: bool) -> int | None:
        if rollback:
            self._base = None  # an older checkpoint, not the model just finalized
        data = fetch_verified(self._store, cid, base_hash)
        return self._open(round_, Artifact(data, base_hash, cid))

    def _open(
        self, round_: int, model: Artifact, state: dict[str, Tensor] | None = None
    ) -> int | None:
        self.ended = study_end(self.plan().dp, self._ledger, self.study, round_)
        if self.ended is not None:
            return None  # dp mode: no member hospital can afford `round_`
        secagg = self.secagg()
        if secagg is not None:
            self.ended = secagg.too_few(round_)
            if self.ended is not None or not secagg.can_open(round_):
                return None  # secagg: the study ended, or the hospitals' deals are not in
        cid = model.cid or self._store.put(model.data)
        with self._writing():
            self._ledger.open_round(self.study, round_, model.hash, cid)
        self._latest = LatestRound(round_, RoundState.OPEN)
        if self._base is None or self._base[0] != round_:
            if state is None:
                state = bytes_to_state_dict(model.data, expected=self.plan().initial_state())
            self._base = (round_, state)
        logger.info("opened round %d", round_)
        return round_

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """A ledger write: if it fails (refused, or sent but unconfirmed), forget what this
        aggregator believes the latest round is, so the next step reads the ledger."""
        try:
            yield
        except BaseException:
            self._latest = None
            raise

    def ready(self, record: RoundRecord) -> bool:
        """Whether `record` (open) can close: all members in, or the minimum plus the timeout."""
        study = self._ledger.study(self.study)
        submitted = {u.hospital for u in record.updates}
        secagg = self.secagg()
        expected = set(study.hospitals if secagg is None else secagg.roster(record.round))
        if expected <= submitted:
            return True
        if len(submitted) < study.min_updates:
            return False
        first_seen = self._seen_open.setdefault(record.round, self._clock())
        return self._clock() - first_seen >= self.plan().round_timeout_s

    def poll(self) -> AggregatorOutcome | None:
        """One step: finalize the open round if ready, then open the next; None if waiting."""
        self.record_contributions()
        record = self.current_round()
        if record is not None and record.state == RoundState.OPEN and self.modes().unlearning:
            self.start()  # records a rollback opened before a restart (once per round)
        if record is None or record.state != RoundState.OPEN:
            if self.start() is None:
                return None
            record = self.current_round()
            assert record is not None
        self._seen_open.setdefault(record.round, self._clock())
        if not self.ready(record):
            return None
        outcome = self.finalize(record) if self.secagg() is None else self._advance(record)
        if outcome is None:
            return None  # secagg: waiting for the survivors' reveals
        if not self.done():
            self.start()
        return outcome

    def run(
        self,
        *,
        poll_interval: float = 1.0,
        stop: threading.Event | None = None,
        on_outcome: Callable[[AggregatorOutcome], None] | None = None,
    ) -> list[AggregatorOutcome]:
        """Poll until all rounds are finalized (or `stop` is set). Transient failures (node or
        store down) are logged and retried; 20 in a row are raised (`fl.roles.loop`)."""
        outcomes = run_role(
            "aggregator",
            lambda: None if self.done() else self.poll(),
            self.done,
            poll_interval=poll_interval,
            stop=stop,
            on_outcome=on_outcome,
        )
        self.settle_contributions()  # the last round's record, sent without waiting
        return outcomes

    def record_contributions(self) -> int:
        """Record on chain the judgement of every finalized round not recorded yet (with a
        contributions port; see `fl.roles.contributions`); returns how many were sent."""
        if self._contributions is None:
            return 0
        with self._writing():
            return self._contributions.catch_up()

    def settle_contributions(self) -> None:
        """Wait for the last round's contributions record if it was sent without waiting (see
        `fl.roles.contributions`); a refusal raises here."""
        if self._contributions is not None:
            with self._writing():
                self._contributions.settle()

    # --- aggregation ----------------------------------------------------------------------------

    def finalize(self, record: RoundRecord) -> AggregatorOutcome:
        """Verify, aggregate and finalize `record` (an open round): `SealedAggregation`, which
        names how many updates were considered and, when the ledger refuses because an update
        landed meanwhile, re-reads the round and aggregates again (`RoundKeptChangingError` after
        `MAX_ROUND_READS` reads that all found the round changed; the round stays open)."""
        sealed = SealedAggregation(
            study=self.study,
            ledger=self._ledger,
            store=self._store,
            plan=self.plan(),
            intake=self.intake(),
            validation=self._validation_set,
            test_set=self._test_set,
        )
        done = sealed.finalize(
            record,
            self._base_state(record),
            open_next=self._opens_next(record.round),
            writing=self._writing,
        )
        return self._finalized(done.outcome, done.model, done.state, done.opened_next)

    def _opens_next(self, round_: int) -> bool:
        """Whether finalizing `round_` opens the next round too: the study goes on and no mode
        decides the opening (secagg, unlearning, dp)."""
        return self.modes().plain and self.plan().dp is None and round_ + 1 < self.rounds

    def _advance(self, record: RoundRecord) -> AggregatorOutcome | None:
        """Secure aggregation: one step of the round's close, reveal and finalization."""
        secagg = self.secagg()
        assert secagg is not None
        with self._writing():
            finished = secagg.advance(record)
        if finished is None:
            return None
        return self._finalized(*finished)

    def _finalized(
        self,
        outcome: AggregatorOutcome,
        model: Artifact,
        state: dict[str, Tensor],
        opened_next: bool = False,
    ) -> AggregatorOutcome:
        """Remember a round this aggregator just finalized (its model is the next base) and,
        with `opened_next`, that the same transaction opened the next round on it; send the
        round's judgement to the chain right after (its receipt settled later, when the port
        allows it: `fl.roles.contributions`)."""
        self._base = (outcome.round + 1, state)
        self._latest = latest_after(outcome, model, opened_next)
        if self._contributions is not None:
            with self._writing():
                self._contributions.record_finalized(outcome.round, outcome.metrics_cid)
        return outcome

    def _base_state(self, record: RoundRecord) -> dict[str, Tensor]:
        if self._base is not None and self._base[0] == record.round:
            return self._base[1]
        data = fetch_verified(self._store, record.base_model_cid, record.base_model_hash)
        state = bytes_to_state_dict(data, expected=self.plan().initial_state())
        self._base = (record.round, state)
        return state
