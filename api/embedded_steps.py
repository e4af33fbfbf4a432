"""The hospitals of an embedded study stepping one round at once (issue 19).

In a deployment every hospital is its own machine; stepped one after another in one process, a
round waits for each trainer's chain reads, sealing, hashing, store writes and submission in
turn. `RoundSteps` steps them concurrently, one thread per hospital. Training itself stays
serialized (`fl.determinism.deterministic_torch` holds a process lock, torch's settings being
global), but everything else of one trainer overlaps another's training; hospitals waiting for
that lock get it in hospital order (`fl.determinism.training_turn`), the order they submit in,
so a hospital that trained first is not left waiting for its turn to submit behind one that
trains after it.

What stays exactly as stepping in sequence:

* the order of the round's updates on chain (the aggregation order, so the model's bytes): a
  hospital's `submitUpdate` waits until every hospital before it finished its step
  (`SubmitTurns`, through `OrderedSubmitLedger`), so they land in hospital order;
* errors: every step is waited for, then the first failure in hospital order is raised as is
  (a later hospital may have stepped meanwhile, as it would on its own machine);
* the report: outcomes keyed in hospital order.

`meanwhile` runs on the calling thread while the hospitals step (the embedded study settles the
aggregator's last contributions receipt there); its failure is raised after the steps', if
none of them failed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait

from chain.deploy import Ledger
from chain.ledger import ChainLedger
from consent.ids import StudyId
from consent.records import UpdateSubmission
from fl.determinism import training_turn
from fl.roles import TrainerOutcome

__all__ = ["OrderedSubmitLedger", "RoundSteps", "SubmitTurns"]

Step = Callable[[], TrainerOutcome | None]


class SubmitTurns:
    """One round's turns: position `k` submits once positions `0..k-1` finished their step."""

    def __init__(self, positions: int) -> None:
        self._finished = [threading.Event() for _ in range(positions)]

    def wait_for(self, position: int) -> None:
        """Block until every position before `position` finished."""
        for earlier in self._finished[:position]:
            earlier.wait()

    def finish(self, position: int) -> None:
        self._finished[position].set()


class OrderedSubmitLedger(ChainLedger):
    """A hospital's `ChainLedger` whose `submit_update` takes its turn while a round is stepped
    concurrently (outside one, e.g. a trainer stepped by hand, it submits at once)."""

    def __init__(self, ledger: Ledger) -> None:
        super().__init__(ledger)
        self.turn: tuple[SubmitTurns, int] | None = None

    def submit_update(self, study: StudyId, round_: int, submission: UpdateSubmission) -> int:
        if self.turn is not None:
            turns, position = self.turn
            turns.wait_for(position)
        return super().submit_update(study, round_, submission)


class RoundSteps:
    """A thread per hospital, kept across rounds (each thread keeps its HTTP session)."""

    def __init__(self, hospitals: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=hospitals, thread_name_prefix="hospital")

    def run(
        self,
        steps: Sequence[tuple[Step, OrderedSubmitLedger]],
        *,
        meanwhile: Callable[[], None] | None = None,
    ) -> list[TrainerOutcome | None]:
        """Every step at once, submissions in order; the outcomes in the order given."""
        turns = SubmitTurns(len(steps))
        futures: list[Future[TrainerOutcome | None]] = []
        for position, (step, ledger) in enumerate(steps):
            ledger.turn = (turns, position)
            futures.append(self._pool.submit(_taking_turn, step, turns, position))
        failure: BaseException | None = None
        try:
            if meanwhile is not None:
                meanwhile()
        except BaseException as exc:  # raised once the steps are done, after theirs
            failure = exc
        finally:
            wait(futures)
            for _, ledger in steps:
                ledger.turn = None
        outcomes = [future.result() for future in futures]  # the first failure in order raises
        if failure is not None:
            raise failure
        return outcomes

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def _taking_turn(step: Step, turns: SubmitTurns, position: int) -> TrainerOutcome | None:
    try:
        with training_turn(position):
            return step()
    finally:
        turns.finish(position)  # submitted, nothing to submit, or failed: the next one's turn
