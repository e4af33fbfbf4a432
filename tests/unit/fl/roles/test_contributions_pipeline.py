"""The aggregator's contributions record sent without waiting (issue 19): the round it just
finalized is sent with no reads first, its receipt settled later; a refusal at settlement raises
and the next catch-up records the round again, so nothing is lost."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pytest

from consent.contributions import ContributionRecord
from consent.formats.round_metrics import RoundMetrics
from consent.ids import StudyId
from fl.roles import Aggregator
from fl.roles.contributions import PipelinedContributionsPort
from fl.roles.trainer import Trainer
from tests.unit.fl.roles.conftest import AGGREGATOR, HOSPITALS, World, dataset_for
from tests.unit.fl.roles.fakes import FakeConsent, FakeLedger, FakeRefusalError
from tests.unit.fl.roles.test_judging import robust_plan, validation_rows


@dataclass(frozen=True)
class _Sent:
    round: int
    record: ContributionRecord


class PipelinedFake(FakeLedger):
    """A fake aggregator ledger whose contributions records are sent, then settled: the record
    lands on the fake chain at settlement (or is refused then, with `refuse_next`)."""

    def __init__(self, world: World) -> None:
        super().__init__(world.chain, AGGREGATOR)
        self.calls: Counter[str] = Counter()
        self.refuse_next = False

    def contributions_recorded(self, study: StudyId, round_: int) -> bool:
        self.calls["contributions_recorded"] += 1
        return super().contributions_recorded(study, round_)

    def round_count(self, study: StudyId) -> int:
        self.calls["round_count"] += 1
        return super().round_count(study)

    def send_contributions(self, study: StudyId, round_: int, record: ContributionRecord) -> _Sent:
        self.calls["send"] += 1
        return _Sent(round_, record)

    def settle_contributions(self, pending: _Sent) -> int:
        self.calls["settle"] += 1
        if self.refuse_next:
            self.refuse_next = False
            raise FakeRefusalError("refused when mined")
        return self.record_contributions(self.chain.study.study, pending.round, pending.record)


def _aggregator(world: World, port: PipelinedFake, rounds: int) -> Aggregator:
    return Aggregator(
        study=world.study,
        ledger=port,
        store=world.store,
        seal_key=world.seal.private_key,
        rounds=rounds,
        plan=robust_plan(world),
        validation_set=validation_rows(),
        contributions=port,
    )


def _train(world: World) -> None:
    for h in range(len(HOSPITALS)):
        Trainer(
            study=world.study,
            ledger=FakeLedger(world.chain, HOSPITALS[h]),
            store=world.store,
            consent=FakeConsent(world.chain),
            dataset=dataset_for(h),
            state_dir=world.tmp / f"h{h}",
            plan=robust_plan(world),
        ).step()


def test_the_finalized_round_is_sent_without_reads_and_settled_later(world: World) -> None:
    world.enrol_all()
    port = PipelinedFake(world)
    assert isinstance(port, PipelinedContributionsPort)
    aggregator = _aggregator(world, port, rounds=2)
    aggregator.start()
    _train(world)
    assert aggregator.poll() is not None  # round 0 finalized, its record sent; round 1 opened
    _train(world)
    record = aggregator.current_round()
    assert record is not None
    port.calls.clear()

    aggregator.finalize(record)  # round 1: round 0's receipt settled, round 1's sent

    assert port.calls == Counter(send=1, settle=1)  # no round count, no recorded check
    assert sorted(world.chain.contributions) == [0]  # round 1's lands when it is settled
    aggregator.settle_contributions()
    metrics = RoundMetrics.from_json_bytes(world.store.get(world.chain.rounds[1].metrics_cid))
    assert bytes(world.chain.contributions[1].judgement_hash) == metrics.judgement_digest()
    aggregator.settle_contributions()  # nothing pending: nothing sent or settled again
    assert port.calls == Counter(send=1, settle=2)


def test_a_record_refused_at_settlement_raises_and_the_next_catch_up_records_it(
    world: World,
) -> None:
    world.enrol_all()
    port = PipelinedFake(world)
    aggregator = _aggregator(world, port, rounds=1)
    aggregator.start()
    _train(world)
    assert aggregator.poll() is not None
    port.refuse_next = True

    with pytest.raises(FakeRefusalError):
        aggregator.settle_contributions()
    assert world.chain.contributions == {}

    assert aggregator.record_contributions() == 1  # checked again: not on chain, recorded
    assert sorted(world.chain.contributions) == [0]
    assert aggregator.record_contributions() == 0
