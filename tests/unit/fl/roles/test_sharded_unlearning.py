"""SISA shards through the roles, over in-memory fakes (issue 16): every round trains S isolated
sub-models; a revocation rolls back only its patient's shard, which catches up alone from its
clean checkpoint while the other shards are carried bit for bit; the head's every shard lineage
then excludes the patient; a partial rollback survives an aggregator restart."""

from __future__ import annotations

import pytest

from consent.lineage import every_shard, shard_lineages, shard_of
from fl.learners.sharded import ROUNDS_KEY, ShardedLearner, sub_state
from fl.roles import Aggregator, Trainer
from fl.serialize import bytes_to_state_dict
from tests.unit.fl.roles.conftest import World, patient_of
from tests.unit.fl.roles.unlearn_world import (
    crash_before_rollback,
    one_round,
    unlearn_plan,
    unlearning_aggregator,
)

SHARDS = 3


@pytest.fixture
def sharded(world: World) -> World:
    unlearn_plan(world, shards=SHARDS)
    world.enrol_all()
    return world


def trainer(world: World, h: int) -> Trainer:
    """Hospital `h`'s trainer with the plan's own (sharded) local step."""
    step = world.plan.make_learner().local_step
    return world.trainer(h, state_dir=world.tmp / f"h{h}", train_fn=step)


def sharded_round(world: World, agg: Aggregator) -> None:
    one_round(world, agg, trainer)


def model_of(world: World, round_: int) -> dict[str, object]:
    record = world.chain.rounds[round_]
    template = world.plan.initial_state()
    return dict(bytes_to_state_dict(world.store.get(record.model_cid), expected=template))


def test_a_revocation_retrains_only_its_patients_shard_until_it_catches_up(
    sharded: World,
) -> None:
    world = sharded
    assert isinstance(world.plan.make_learner(), ShardedLearner)
    agg = unlearning_aggregator(world, rounds=2)
    sharded_round(world, agg)
    sharded_round(world, agg)
    assert agg.done()
    revoked = patient_of(0, 0)
    k = shard_of(revoked, SHARDS)
    before = model_of(world, 1)
    world.chain.revoke(revoked)
    assert not agg.done()

    agg.poll()  # round 2: the rollback of shard k alone, to the initial model
    rollback = world.chain.rollbacks[2]
    assert (rollback.base_round, rollback.shards, rollback.shard_mask) == (0, SHARDS, 1 << k)
    assert rollback.patients == (revoked,)
    while not agg.done():
        sharded_round(world, agg)
    head = len(world.chain.rounds) - 1
    assert head == 3  # shard k retrained rounds 2 and 3 alone
    lines = shard_lineages(head, world.chain.rollbacks, SHARDS)
    assert lines[k] == (2, 3)
    assert all(lines[s] == (0, 1) for s in range(SHARDS) if s != k)
    after = model_of(world, head)
    for s in range(SHARDS):  # the untouched shards are carried bit for bit
        if s != k:
            old, new = sub_state(before, s), sub_state(after, s)  # type: ignore[arg-type]
            assert all(old[name].equal(new[name]) for name in old)
    assert after[ROUNDS_KEY].tolist() == [2] * SHARDS  # type: ignore[attr-defined]
    for r in (2, 3):  # the retraining rounds ran without the revoked patient
        for usage in trainer(world, 0).usages.values():
            if usage.round == r:
                assert revoked not in usage.patients


def test_a_partial_shard_rollback_is_recorded_after_an_aggregator_restart(
    sharded: World,
) -> None:
    world = sharded
    agg = unlearning_aggregator(world, rounds=2)
    sharded_round(world, agg)
    sharded_round(world, agg)
    revoked = patient_of(1, 2)
    world.chain.revoke(revoked)
    crash_before_rollback(world, agg, 2)

    restarted = unlearning_aggregator(world, rounds=2)
    restarted.poll()
    recorded = world.chain.rollbacks[2]
    assert recorded.shard_mask == 1 << shard_of(revoked, SHARDS)
    assert recorded.shard_mask != every_shard(SHARDS)
    while not restarted.done():
        sharded_round(world, restarted)
    lines = shard_lineages(len(world.chain.rounds) - 1, world.chain.rollbacks, SHARDS)
    assert lines[shard_of(revoked, SHARDS)] == (2, 3)
