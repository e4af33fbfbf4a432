"""dp mode in the roles (fakes): the trainer refuses an unaffordable round before it trains and
charges once per round; the aggregator ends the study when no hospital can afford a round."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import pytest
from torch import Tensor

from consent.formats.privacy import PrivacyMode, PrivacySpec
from consent.ids import Address, StudyId
from consent.privacy import BudgetExhaustedError, BudgetLedger, BudgetRecord, DpTerms
from fl.data import HospitalDataset
from fl.models import ModelSpec
from fl.privacy import rdp_increment_fixed
from fl.roles import Aggregator, StudyPlan, Trainer
from fl.roles.budget import BudgetGate, PrivacyTermsMismatchError
from fl.train import LocalResult, LocalTrainingConfig, train_local
from tests.unit.fl.roles.conftest import AGGREGATOR, HOSPITALS, World, dataset_for
from tests.unit.fl.roles.fakes import FakeConsent, FakeLedger

TERMS = DpTerms(
    epsilon=3.0,
    delta=1e-5,
    noise_multiplier=2.0,  # 3 rounds fit epsilon 3
    max_grad_norm=1.0,
    sample_rate=0.25,
    steps_per_round=4,
)


@dataclass
class FakeBudget:
    """`fl.ports.PrivacyBudgetPort` with the contract's add-and-compare rule."""

    record: BudgetRecord | None
    spent: dict[Address, BudgetLedger] = field(default_factory=dict)
    charged: dict[tuple[int, Address], tuple[int, ...]] = field(default_factory=dict)
    sender: Address = HOSPITALS[0]

    def budget(self, study: StudyId) -> BudgetRecord | None:
        return self.record

    def budget_ledger(self, study: StudyId, hospital: Address) -> BudgetLedger:
        assert self.record is not None
        return self.spent.get(hospital, self.record.fresh_ledger())

    def charge_budget(self, study: StudyId, round_: int, increment: Sequence[int]) -> int:
        ledger = self.budget_ledger(study, self.sender)
        if not ledger.affords(increment):
            raise BudgetExhaustedError("refused on chain")
        self.spent[self.sender] = ledger.after(increment)
        self.charged[(round_, self.sender)] = tuple(increment)
        return 1

    def budget_charged(
        self, study: StudyId, round_: int, hospital: Address
    ) -> tuple[int, ...] | None:
        return self.charged.get((round_, hospital))

    def exhaust(self, hospital: Address) -> None:
        assert self.record is not None
        self.spent[hospital] = BudgetLedger(
            self.record.caps, tuple(c + 1 for c in self.record.caps)
        )


class DpLedger(FakeLedger):
    """A fake ledger that also serves the privacy-budget port (as `ChainLedger` does)."""

    def __init__(self, world: World, sender: Address, budget: FakeBudget) -> None:
        super().__init__(world.chain, sender)
        self.budget = budget.budget
        self.budget_ledger = budget.budget_ledger
        self.budget_charged = budget.budget_charged
        self.charge_budget = budget.charge_budget


def _aggregator(world: World, budget: FakeBudget, rounds: int = 2) -> Aggregator:
    return Aggregator(
        study=world.study, ledger=DpLedger(world, AGGREGATOR, budget), store=world.store,
        seal_key=world.seal.private_key, rounds=rounds,
    )  # fmt: skip


def _record(terms: DpTerms = TERMS) -> BudgetRecord:
    return BudgetRecord(terms, terms.caps_fixed(), terms.orders_fixed(), 1)


def _dp_world(world: World) -> StudyPlan:
    plan = replace(world.plan, privacy=PrivacySpec(mode=PrivacyMode.DP, dp=TERMS))
    world.chain.study = replace(
        world.chain.study, metadata_cid=world.store.put(plan.to_json_bytes())
    )
    return plan


@dataclass
class Spy:
    calls: int = 0

    def __call__(
        self,
        spec: ModelSpec,
        base: Mapping[str, Tensor],
        dataset: HospitalDataset,
        config: LocalTrainingConfig,
    ) -> LocalResult:
        self.calls += 1
        return train_local(spec, base, dataset, config)


def _trainer(world: World, budget: FakeBudget, spy: Spy) -> Trainer:
    return Trainer(
        study=world.study,
        ledger=FakeLedger(world.chain, HOSPITALS[0]),  # the budget comes in separately
        store=world.store,
        consent=FakeConsent(world.chain),
        dataset=dataset_for(0),
        state_dir=world.tmp / "h0",
        train_fn=spy,
        budget=budget,
    )


def test_trainer_charges_then_submits_in_dp_mode(world: World) -> None:
    _dp_world(world)
    world.enrol_all()
    budget, spy = FakeBudget(_record()), Spy()
    _aggregator(world, budget).start()
    outcome = _trainer(world, budget, spy).step()
    assert outcome is not None
    assert outcome.usage is not None
    assert spy.calls == 1
    assert budget.charged[(0, HOSPITALS[0])] == rdp_increment_fixed(TERMS)


def test_trainer_refuses_an_unaffordable_round_before_training(world: World) -> None:
    _dp_world(world)
    world.enrol_all()
    budget, spy = FakeBudget(_record()), Spy()
    budget.exhaust(HOSPITALS[0])
    _aggregator(world, budget).start()
    outcome = _trainer(world, budget, spy).step()
    assert outcome is not None
    assert outcome.usage is None
    assert outcome.skipped is not None
    assert "privacy budget exhausted" in outcome.skipped
    assert spy.calls == 0  # never trained
    assert not world.chain.rounds[0].updates
    assert (0, HOSPITALS[0]) not in budget.charged


def test_trainer_refuses_a_plan_whose_terms_differ_from_the_chain(world: World) -> None:
    _dp_world(world)
    world.enrol_all()
    other = replace(TERMS, noise_multiplier=0.5)  # the chain says less noise than the plan
    budget, spy = FakeBudget(_record(other)), Spy()
    _aggregator(world, FakeBudget(_record())).start()
    with pytest.raises(PrivacyTermsMismatchError):
        _trainer(world, budget, spy).step()
    assert spy.calls == 0
    with pytest.raises(PrivacyTermsMismatchError, match="no on-chain"):
        _trainer(world, FakeBudget(None), spy).step()


def test_aggregator_ends_the_study_when_no_hospital_can_afford_a_round(world: World) -> None:
    _dp_world(world)
    budget = FakeBudget(_record())
    for hospital in HOSPITALS:
        budget.exhaust(hospital)
    assert not BudgetGate(budget, world.study, _record()).anyone_affords(HOSPITALS)
    aggregator = _aggregator(world, budget, rounds=3)
    assert aggregator.start() is None
    assert aggregator.done()
    assert aggregator.ended is not None
    assert "no hospital can afford round 0" in aggregator.ended
    assert not world.chain.rounds


def test_aggregator_opens_rounds_while_one_hospital_can_afford(world: World) -> None:
    _dp_world(world)
    budget = FakeBudget(_record())
    budget.exhaust(HOSPITALS[0])
    aggregator = _aggregator(world, budget, rounds=3)
    assert aggregator.start() == 0
    assert aggregator.ended is None
