"""How many ledger calls a round costs each role, counted on the fakes so the count cannot
silently regress (each read is a contract call: on eth-tester several milliseconds)."""

from __future__ import annotations

from collections import Counter
from typing import Any, cast

from consent.ids import Address
from fl.ports import LedgerPort
from fl.roles import Aggregator, Trainer
from tests.unit.fl.roles.conftest import AGGREGATOR, HOSPITALS, World, dataset_for
from tests.unit.fl.roles.fakes import FakeConsent, FakeLedger, FakePipelineLedger

_METHODS = ("block_number", "block_timestamp", "study", "round_count", "round", "open_round",
            "submit_update", "finalize_round", "latest_round",
            "finalize_and_open_round")  # fmt: skip


class CountingLedger:
    """Counts every `LedgerPort` call into a shared counter, by method (every other attribute
    is refused, so a new port method fails here until it is counted)."""

    def __init__(self, inner: LedgerPort, calls: Counter[str]) -> None:
        self._inner = inner
        self.calls = calls

    @property
    def sender(self) -> Any:
        return self._inner.sender

    def __getattr__(self, name: str) -> Any:
        if name not in _METHODS:
            raise AttributeError(name)
        method = getattr(self._inner, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return method(*args, **kwargs)

        return counted


class HeadedFakeConsent(FakeConsent):
    """A consent view whose sync returns the head's timestamp too (`HeadedConsentViewPort`,
    as `chain.consent_view.ChainConsentView` does)."""

    def __init__(self, chain: Any, ledger: LedgerPort) -> None:
        super().__init__(chain)
        self._ledger = ledger  # the uncounted ledger: the head read belongs to the sync

    def sync_at(self) -> tuple[int, int]:
        block = self.sync()
        return block, self._ledger.block_timestamp(block)


def _roles(
    world: World, calls: dict[str, Counter[str]], *, pipeline: bool = False, headed: bool = False
) -> tuple[Aggregator, list[Trainer]]:
    fake = FakePipelineLedger if pipeline else FakeLedger

    def ledger(sender: Address, role: str) -> LedgerPort:
        return cast(LedgerPort, CountingLedger(fake(world.chain, sender), calls[role]))

    aggregator = Aggregator(
        study=world.study,
        ledger=ledger(AGGREGATOR, "aggregator"),
        store=world.store,
        seal_key=world.seal.private_key,
        rounds=4,
    )
    trainers = [
        Trainer(
            study=world.study,
            ledger=ledger(hospital, f"trainer{h}"),
            store=world.store,
            consent=(
                HeadedFakeConsent(world.chain, fake(world.chain, hospital))
                if headed
                else FakeConsent(world.chain)
            ),
            dataset=dataset_for(h),
            state_dir=world.tmp / f"hospital-{h}",
        )
        for h, hospital in enumerate(HOSPITALS)
    ]
    return aggregator, trainers


def _embedded_round(aggregator: Aggregator, trainers: list[Trainer]) -> None:
    """What `api.embedded.EmbeddedStudy.run_round` and the round-overhead benchmark do (with
    the pipeline, the round is already open: it opened with the previous finalization)."""
    opened = aggregator.start()
    for trainer in trainers:
        outcome = trainer.step()
        assert outcome is not None
        assert outcome.usage is not None
    record = aggregator.current_round()
    assert record is not None
    assert opened in (None, record.round)
    assert record.state.name == "OPEN"
    aggregator.finalize(record)


def test_a_steady_round_reads_the_ledger_four_times_per_trainer_and_three_for_the_aggregator(
    world: World,
) -> None:
    world.enrol_all()
    calls: dict[str, Counter[str]] = {r: Counter() for r in ("aggregator", "trainer0", "trainer1")}
    aggregator, trainers = _roles(world, calls)
    _embedded_round(aggregator, trainers)  # round 0 finds its bearings (plan, round count)

    for _ in range(2):
        for counter in calls.values():
            counter.clear()
        _embedded_round(aggregator, trainers)

        # trainer: the next round, members, the consent block's time; one submission
        for h in range(len(trainers)):
            assert calls[f"trainer{h}"] == Counter(
                round=1, study=1, block_timestamp=1, submit_update=1
            )
        # aggregator: opening reads nothing after its own finalization; the round and its
        # updates once (every member's update is in: none can land after), members (read
        # while verifying, also for the metrics)
        assert calls["aggregator"] == Counter(
            open_round=1, round_count=1, round=1, study=1, finalize_round=1
        )


def test_with_a_member_missing_the_aggregator_reads_the_round_again_after_verifying(
    world: World,
) -> None:
    world.enrol_all()
    calls: dict[str, Counter[str]] = {r: Counter() for r in ("aggregator", "trainer0", "trainer1")}
    aggregator, trainers = _roles(world, calls)
    _embedded_round(aggregator, trainers)
    aggregator.start()
    assert trainers[0].step() is not None  # trainer 1 sits this round out
    record = aggregator.current_round()
    assert record is not None
    calls["aggregator"].clear()
    outcome = aggregator.finalize(record)
    assert outcome.missing == (trainers[1].hospital,)
    # its update could still land: the round is read again once the updates are verified
    assert calls["aggregator"] == Counter(round=1, study=1, finalize_round=1)


def test_with_a_headed_consent_view_the_trainer_reads_no_block_timestamp(world: World) -> None:
    world.enrol_all()
    calls: dict[str, Counter[str]] = {r: Counter() for r in ("aggregator", "trainer0", "trainer1")}
    aggregator, trainers = _roles(world, calls, headed=True)
    _embedded_round(aggregator, trainers)
    for counter in calls.values():
        counter.clear()

    _embedded_round(aggregator, trainers)

    for h in range(len(trainers)):  # the consent block's time came with the sync's head read
        assert calls[f"trainer{h}"] == Counter(round=1, study=1, submit_update=1)


def test_polling_aggregator_reads_nothing_to_open_the_next_round_after_finalizing(
    world: World,
) -> None:
    world.enrol_all()
    calls: dict[str, Counter[str]] = {r: Counter() for r in ("aggregator", "trainer0", "trainer1")}
    aggregator, trainers = _roles(world, calls)
    assert aggregator.poll() is None  # opens round 0, waits for updates
    for trainer in trainers:
        trainer.step()
    calls["aggregator"].clear()

    outcome = aggregator.poll()

    assert outcome is not None
    assert outcome.round == 0
    # the open round (count + record), members (ready), members (read while verifying: every
    # member submitted, so no re-read); then done() and start() from what the finalization
    # itself established
    assert calls["aggregator"] == Counter(
        round_count=1, round=1, study=2, finalize_round=1, open_round=1
    )
    assert world.chain.rounds[1].state.name == "OPEN"


def test_idle_trainer_polls_one_round_record_per_step(world: World) -> None:
    world.enrol_all()
    calls: dict[str, Counter[str]] = {r: Counter() for r in ("aggregator", "trainer0", "trainer1")}
    aggregator, trainers = _roles(world, calls)
    _embedded_round(aggregator, trainers)
    calls["trainer0"].clear()

    assert trainers[0].step() is None  # round 0 finalized, round 1 not opened yet
    assert trainers[0].step() is None

    assert calls["trainer0"] == Counter(round=2)


def test_with_the_pipeline_a_steady_round_costs_one_read_fewer_and_one_transaction_fewer(
    world: World,
) -> None:
    world.enrol_all()
    calls: dict[str, Counter[str]] = {r: Counter() for r in ("aggregator", "trainer0", "trainer1")}
    aggregator, trainers = _roles(world, calls, pipeline=True)
    _embedded_round(aggregator, trainers)

    for _ in range(2):
        for counter in calls.values():
            counter.clear()
        _embedded_round(aggregator, trainers)

        for h in range(len(trainers)):
            assert calls[f"trainer{h}"] == Counter(
                round=1, study=1, block_timestamp=1, submit_update=1
            )
        # aggregator: the latest round in one read (no count), members (read while verifying:
        # every member submitted, no re-read); finalizing opens the next round in the same write
        assert calls["aggregator"] == Counter(latest_round=1, study=1, finalize_and_open_round=1)
    assert [r.state.name for r in world.chain.rounds] == ["FINALIZED"] * 3 + ["OPEN"]
    assert world.chain.rounds[3].base_model_hash == world.chain.rounds[2].model_hash


def test_with_the_pipeline_the_last_round_is_finalized_alone(world: World) -> None:
    world.enrol_all()
    calls: dict[str, Counter[str]] = {r: Counter() for r in ("aggregator", "trainer0", "trainer1")}
    aggregator, trainers = _roles(world, calls, pipeline=True)  # 4 rounds
    for _ in range(4):
        _embedded_round(aggregator, trainers)

    assert calls["aggregator"]["finalize_and_open_round"] == 3
    assert calls["aggregator"]["finalize_round"] == 1  # the plan ends: nothing opened
    assert aggregator.done()
    assert [r.state.name for r in world.chain.rounds] == ["FINALIZED"] * 4


def test_a_refused_combined_finalization_opens_nothing_and_the_aggregator_redoes_the_round(
    world: World,
) -> None:
    """An update landing after the aggregator's re-read makes finalize-and-open refuse as
    finalize does (`RoundChangedError`): nothing is finalized or opened, the aggregator re-reads
    and aggregates the late update too."""
    world.enrol_all()
    calls: dict[str, Counter[str]] = {r: Counter() for r in ("aggregator", "trainer0", "trainer1")}
    aggregator, trainers = _roles(world, calls, pipeline=True)
    assert aggregator.start() == 0
    assert trainers[0].step() is not None
    record = aggregator.current_round()
    assert record is not None
    late = trainers[1]
    world.chain.before_finalize.append(lambda: world.chain.before_finalize.clear() or late.step())

    outcome = aggregator.finalize(record)

    assert len(outcome.accepted) == 2  # the late update was aggregated, not dropped
    assert calls["aggregator"]["finalize_and_open_round"] == 2  # refused once, then done
    assert [r.state.name for r in world.chain.rounds] == ["FINALIZED", "OPEN"]
    assert {u.hospital for u in world.chain.rounds[0].updates} == {a for a, _ in outcome.accepted}
