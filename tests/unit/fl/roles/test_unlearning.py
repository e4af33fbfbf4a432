"""The aggregator's rollback rounds in an `unlearn` study, over in-memory fakes (issue 16):
a revocation rolls back to the latest clean checkpoint and the study retrains to a clean head;
revocations in a window are batched; a rollback survives an aggregator restart; a revocation
during a rollback is folded into the next."""

from __future__ import annotations

import pytest

from consent.lineage import lineage
from fl.ports import RoundState
from fl.roles import Aggregator, StudyPlan
from fl.roles.errors import RoleError
from tests.unit.fl.roles.conftest import AGGREGATOR, HOSPITALS, World, patient_of
from tests.unit.fl.roles.fakes import FakeLedger
from tests.unit.fl.roles.unlearn_world import (
    crash_before_rollback,
    one_round,
    unlearn_plan,
    unlearning_aggregator,
)


def head_lineage(world: World) -> tuple[int, ...]:
    finalized = [r for r in world.chain.rounds if r.state == RoundState.FINALIZED]
    return lineage(finalized[-1].round, world.chain.rollbacks)


@pytest.fixture
def unlearn(world: World) -> World:
    unlearn_plan(world)
    world.enrol_all()
    return world


def test_a_revocation_rolls_back_to_the_initial_model_and_retrains_a_clean_head(
    unlearn: World,
) -> None:
    world = unlearn
    agg = unlearning_aggregator(world, rounds=2)
    one_round(world, agg)
    one_round(world, agg)  # the study trained its 2 rounds: no round 2 opens
    assert len(world.chain.rounds) == 2
    assert agg.done()
    revoked = patient_of(0, 0)
    world.chain.revoke(revoked)
    assert not agg.done()  # the head carries the revoked patient

    agg.poll()
    rollback = world.chain.rollbacks[2]
    assert (rollback.base_round, rollback.patients) == (0, (revoked,))
    rounds = world.chain.rounds
    assert rounds[2].base_model_hash == rounds[0].base_model_hash  # the initial model
    while not agg.done():
        one_round(world, agg)
    assert head_lineage(world) == (2, 3)
    for r in (2, 3):
        update = world.chain.rounds[r].update_of(HOSPITALS[0])
        assert update is not None
        assert update.consent_block >= world.chain.last_revocation[HOSPITALS[0]]


def test_revocations_within_the_window_are_batched_into_one_rollback(world: World) -> None:
    unlearn_plan(world, window_rounds=3)
    world.enrol_all()
    agg = unlearning_aggregator(world, rounds=6)
    one_round(world, agg)  # round 0 finalized, round 1 open
    first = patient_of(0, 1)
    world.chain.revoke(first)
    one_round(world, agg)  # round 1 (opened before the revocation): round 2 opens, ordinary
    assert world.chain.rollbacks == {}
    second = patient_of(1, 2)
    world.chain.revoke(second)
    one_round(world, agg)  # round 2 finalized; round 3 is the 2nd opened after `first`
    assert world.chain.rollbacks == {}
    one_round(world, agg)  # round 3 finalized; round 4 is the 3rd: the window closes
    assert set(world.chain.rollbacks) == {4}
    assert set(world.chain.rollbacks[4].patients) == {first, second}
    assert world.chain.rollbacks[4].base_round == 0


def test_a_rollback_opened_before_an_aggregator_restart_is_recorded_on_resume(
    unlearn: World,
) -> None:
    world = unlearn
    agg = unlearning_aggregator(world, rounds=2)
    one_round(world, agg)
    one_round(world, agg)
    world.chain.revoke(patient_of(1, 0))
    crash_before_rollback(world, agg, 2)

    restarted = unlearning_aggregator(world, rounds=2)
    restarted.poll()
    assert world.chain.rollbacks[2].base_round == 0
    assert world.chain.rollbacks[2].patients == (patient_of(1, 0),)
    while not restarted.done():
        one_round(world, restarted)
    assert head_lineage(world) == (2, 3)


def test_a_revocation_during_a_rollback_round_is_folded_into_the_next(unlearn: World) -> None:
    world = unlearn
    agg = unlearning_aggregator(world, rounds=2)
    one_round(world, agg)
    one_round(world, agg)
    world.chain.revoke(patient_of(0, 0))
    agg.poll()  # round 2: rollback
    world.trainer(1, state_dir=world.tmp / "h1").step()  # hospital 1 trains with patient (1, 3)
    late = patient_of(1, 3)
    world.chain.revoke(late)
    world.trainer(0, state_dir=world.tmp / "h0").step()
    agg.poll()  # round 2 finalized (tainted by `late`): round 3 rolls back again
    assert world.chain.rollbacks[3].patients == (late,)
    assert world.chain.rollbacks[3].base_round == 2  # round 2's base: the initial model
    while not agg.done():
        one_round(world, agg)
    assert world.chain.rollbacks.keys() == {2, 3}
    assert head_lineage(world) == (3, 4)


def test_an_unlearn_study_without_the_rollbacks_contract_is_refused(unlearn: World) -> None:
    agg = Aggregator(
        study=unlearn.study,
        ledger=FakeLedger(unlearn.chain, AGGREGATOR),
        store=unlearn.store,
        seal_key=unlearn.seal.private_key,
        rounds=2,
    )
    with pytest.raises(RoleError, match="Rollbacks"):
        agg.start()


def test_a_forward_study_never_rolls_back(world: World) -> None:
    world.enrol_all()
    plan = StudyPlan.from_json_bytes(world.plan.to_json_bytes())
    assert not plan.revocation.unlearns
    agg = unlearning_aggregator(world, rounds=3)
    one_round(world, agg)
    world.chain.revoke(patient_of(0, 0))
    one_round(world, agg)
    one_round(world, agg)
    assert agg.done()
    assert world.chain.rollbacks == {}
    assert head_lineage(world) == (0, 1, 2)
