"""PrivacyBudget on eth-tester: caps fixed once, charges add and compare, overspend refused,
and the RoundLedger refuses a dp-mode update whose round was not charged."""

from __future__ import annotations

import pytest

from chain.budget_errors import (
    AlreadyChargedError,
    BudgetAlreadyConfiguredError,
    BudgetExhaustedError,
    BudgetNotChargedError,
    IncrementLengthMismatchError,
    NotCoordinatorError,
    NotDpStudyError,
)
from chain.errors import NotStudyMemberError, UnknownStudyError
from chain.ledger import ChainLedger
from chain.privacy_budget import PrivacyBudget
from consent import privacy
from consent.ids import Bytes32, study_id
from consent.privacy import to_fixed_up
from consent.records import UpdateSubmission
from tests.fixtures.ledger import DP_TERMS, LedgerWorld, sender_of


def _budget(ledger: object) -> PrivacyBudget:
    budget = ledger.budget  # type: ignore[attr-defined]
    assert budget is not None
    return budget  # type: ignore[no-any-return]


def _submission(world: LedgerWorld) -> UpdateSubmission:
    return UpdateSubmission(
        update_hash=Bytes32(b"\x02" * 32),
        update_cid="bafkreiupdate",
        num_samples=10,
        num_patients=1,
        data_root=Bytes32(b"\x03" * 32),
        consent_block=world.chain.block_number(),
    )


def _open_round(world: LedgerWorld) -> None:
    world.grant(5, 0)  # an update names at least one consenting patient
    world.aggregator.rounds.open_round(world.study, 0, Bytes32(b"\x01" * 32), "bafkreibase")


def test_configure_fixes_caps_once_and_emits_event(eth_tester_ledger: LedgerWorld) -> None:
    world = eth_tester_ledger
    event = _budget(world.coordinator).configure(world.study, DP_TERMS)
    assert event.caps == DP_TERMS.caps_fixed()
    record = _budget(world.coordinator).record(world.study)
    assert record is not None
    assert record.caps == DP_TERMS.caps_fixed()
    assert record.terms.noise_multiplier == pytest.approx(1.1, abs=1e-12)
    assert record.terms.orders == DP_TERMS.orders
    assert record.configured_block == event.position.block_number
    with pytest.raises(BudgetAlreadyConfiguredError):
        _budget(world.coordinator).configure(world.study, DP_TERMS)


def test_configure_only_by_the_coordinator_of_an_existing_study(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    with pytest.raises(NotCoordinatorError):
        _budget(world.hospitals[0]).configure(world.study, DP_TERMS)
    with pytest.raises(UnknownStudyError):
        _budget(world.coordinator).configure(study_id("no such study"), DP_TERMS)
    assert not _budget(world.coordinator).is_dp_study(world.study)


def test_charges_add_and_overspend_is_refused_with_nothing_changed(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    _budget(world.coordinator).configure(world.study, DP_TERMS)
    hospital = _budget(world.hospitals[0])
    me = sender_of(world.hospitals[0])
    caps = DP_TERMS.caps_fixed()
    # an increment that keeps only the highest order under its cap, twice over
    step = (caps[0] + 1, caps[1] + 1, caps[2] // 2)
    charged = hospital.charge(world.study, 0, step)
    assert charged.increment == step
    assert (charged.hospital, charged.round) == (me, 0)
    hospital.charge(world.study, 1, step)
    assert hospital.spent(world.study, me) == tuple(2 * s for s in step)
    with pytest.raises(BudgetExhaustedError) as refused:
        hospital.charge(world.study, 2, step)
    assert isinstance(refused.value, privacy.BudgetExhaustedError)
    assert hospital.spent(world.study, me) == tuple(2 * s for s in step)
    assert hospital.charged(world.study, 2, me) is None
    # the other hospital's ledger is its own
    assert _budget(world.hospitals[1]).spent(world.study, sender_of(world.hospitals[1])) == ()


def test_charge_refuses_double_charge_wrong_length_outsider_and_non_dp_study(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    hospital = _budget(world.hospitals[0])
    with pytest.raises(NotDpStudyError):
        hospital.charge(world.study, 0, (1, 1, 1))
    _budget(world.coordinator).configure(world.study, DP_TERMS)
    with pytest.raises(IncrementLengthMismatchError):
        hospital.charge(world.study, 0, (1, 1))
    with pytest.raises(NotStudyMemberError):
        _budget(world.outsider).charge(world.study, 0, (1, 1, 1))
    hospital.charge(world.study, 0, (1, 1, 1))
    with pytest.raises(AlreadyChargedError):
        hospital.charge(world.study, 0, (1, 1, 1))


def test_round_ledger_refuses_an_uncharged_update_in_a_dp_study(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    _budget(world.coordinator).configure(world.study, DP_TERMS)
    _open_round(world)
    hospital = world.hospitals[0]
    with pytest.raises(BudgetNotChargedError):
        hospital.rounds.submit_update(world.study, 0, _submission(world))
    assert world.coordinator.rounds.round_count(world.study) == 1
    assert not world.coordinator.rounds.get_round_record(world.study, 0).updates
    _budget(hospital).charge(world.study, 0, tuple(to_fixed_up(0.1) for _ in DP_TERMS.orders))
    hospital.rounds.submit_update(world.study, 0, _submission(world))
    assert len(world.coordinator.rounds.get_round_record(world.study, 0).updates) == 1


def test_a_study_without_budget_submits_as_before(eth_tester_ledger: LedgerWorld) -> None:
    world = eth_tester_ledger
    _open_round(world)
    world.hospitals[0].rounds.submit_update(world.study, 0, _submission(world))
    assert ChainLedger(world.hospitals[0]).budget(world.study) is None


def test_chain_ledger_serves_the_budget_port(eth_tester_ledger: LedgerWorld) -> None:
    world = eth_tester_ledger
    _budget(world.coordinator).configure(world.study, DP_TERMS)
    port = ChainLedger(world.hospitals[0])
    me = sender_of(world.hospitals[0])
    assert port.budget_ledger(world.study, me).spent == (0, 0, 0)
    port.charge_budget(world.study, 0, (5, 6, 7))
    assert port.budget_ledger(world.study, me).spent == (5, 6, 7)
    assert port.budget_charged(world.study, 0, me) == (5, 6, 7)
