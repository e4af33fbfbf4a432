"""`privacy-budget` over the honest eth-tester history given a dp budget, then lied about: an
under-reporting charge, a tampered ledger, loose caps, a missing charge, a missing accountant."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from chain.audit import AuditCheck, LedgerView
from chain.audit.privacy import PrivacyBudget
from chain.exclusions import ExclusionProofs
from chain.store import LocalStore
from consent.privacy import BudgetRecord, BudgetSnapshot, DpTerms
from fl.privacy import rdp_increment, rdp_increment_fixed
from tests.fixtures.ledger import LedgerWorld
from tests.unit.chain.audit_history import build_history

TERMS = DpTerms(
    epsilon=8.0,
    delta=1e-5,
    noise_multiplier=1.2,
    max_grad_norm=1.0,
    sample_rate=0.1,
    steps_per_round=10,
    orders=(4.0, 8.0, 16.0, 32.0),
)
CHECK = PrivacyBudget(rdp_increment)


@pytest.fixture
def honest(eth_tester_ledger: LedgerWorld, tmp_path: Path) -> LedgerView:
    """The honest history as a dp study: every update charged exactly, ledgers summed."""
    store = LocalStore(tmp_path / "store")
    build_history(eth_tester_ledger, store, tmp_path / "proofs")
    proofs = ExclusionProofs.load(tmp_path / "proofs")
    world = eth_tester_ledger
    view = LedgerView.read(world.coordinator, store, proofs, world.study)
    step = rdp_increment_fixed(TERMS)
    charges = {(r.round, u.hospital): step for r in view.rounds for u in r.updates}
    spent: dict[str, tuple[int, ...]] = {}
    for (_, hospital), charged in charges.items():
        before = spent.get(hospital, (0,) * len(step))
        spent[hospital] = tuple(a + b for a, b in zip(before, charged, strict=True))
    record = BudgetRecord(TERMS, TERMS.caps_fixed(), TERMS.orders_fixed(), 0)
    return dataclasses.replace(view, budget=BudgetSnapshot(record, charges, spent))  # type: ignore[arg-type]


def _failures(view: LedgerView) -> list[AuditCheck]:
    return [c for c in CHECK.run(view) if not c.passed]


def test_honest_dp_history_passes_and_reports_epsilon_per_hospital_and_round(
    honest: LedgerView,
) -> None:
    found = CHECK.run(honest)
    assert found
    assert all(c.passed for c in found), [c for c in found if not c.passed]
    ledgers = [c for c in found if c.subject == "ledger"]
    assert ledgers
    assert budget_of(honest).spent
    assert all("epsilon spent" in c.detail and "r0:" in c.detail for c in ledgers)
    charges = [c for c in found if c.subject == "charge"]
    assert len(charges) == sum(len(r.updates) for r in honest.rounds)


def budget_of(view: LedgerView) -> BudgetSnapshot:
    assert view.budget is not None
    return view.budget


def test_under_reported_charge_fails_naming_round_and_hospital(honest: LedgerView) -> None:
    budget = budget_of(honest)
    (key, charged), *_ = budget.charges.items()
    halved = tuple(c // 2 for c in charged)
    lying = dataclasses.replace(budget, charges={**budget.charges, key: halved})
    # the hospital's cumulative ledger matches its (lying) charges, so only the charge fails
    spent = {**budget.spent}
    spent[key[1]] = tuple(
        s - (c - h) for s, c, h in zip(spent[key[1]], charged, halved, strict=True)
    )
    view = dataclasses.replace(honest, budget=dataclasses.replace(lying, spent=spent))
    (failure,) = _failures(view)
    assert (failure.subject, failure.round, failure.hospital) == ("charge", key[0], key[1])
    assert "the accountant says" in failure.detail


def test_tampered_ledger_fails_against_the_sum_of_charges(honest: LedgerView) -> None:
    budget = budget_of(honest)
    hospital = sorted(budget.spent)[0]
    tampered = {**budget.spent, hospital: tuple(s - 10**7 for s in budget.spent[hospital])}
    view = dataclasses.replace(honest, budget=dataclasses.replace(budget, spent=tampered))
    (failure,) = _failures(view)
    assert (failure.subject, failure.hospital) == ("ledger", hospital)
    assert "charges sum to" in failure.detail


def test_caps_looser_than_the_declared_epsilon_fail(honest: LedgerView) -> None:
    budget = budget_of(honest)
    loose = dataclasses.replace(budget.record, caps=tuple(c * 2 for c in budget.record.caps))
    view = dataclasses.replace(honest, budget=dataclasses.replace(budget, record=loose))
    (failure,) = _failures(view)
    assert failure.subject == "study"
    assert "not those of epsilon" in failure.detail


def test_budget_fixed_after_round_0_opened_fails(honest: LedgerView) -> None:
    budget = budget_of(honest)
    late = dataclasses.replace(budget.record, configured_block=honest.rounds[0].opened_block + 1)
    view = dataclasses.replace(honest, budget=dataclasses.replace(budget, record=late))
    (failure,) = _failures(view)
    assert "after round 0 opened" in failure.detail


def test_update_without_a_charge_fails(honest: LedgerView) -> None:
    budget = budget_of(honest)
    (key, charged), *rest = budget.charges.items()
    spent = {**budget.spent}
    spent[key[1]] = tuple(s - c for s, c in zip(spent[key[1]], charged, strict=True))
    uncharged = dataclasses.replace(budget, charges=dict(rest), spent=spent)
    view = dataclasses.replace(honest, budget=uncharged)
    (failure,) = _failures(view)
    assert (failure.round, failure.hospital) == key
    assert "without a privacy-budget charge" in failure.detail


def test_no_accountant_fails_a_dp_study_and_passes_others(honest: LedgerView) -> None:
    failures = [c for c in PrivacyBudget().run(honest) if not c.passed]
    assert len(failures) == 1
    assert "no RDP accountant" in failures[0].detail
    plain = dataclasses.replace(honest, budget=None)
    assert [c.passed for c in PrivacyBudget().run(plain)] == [True]
