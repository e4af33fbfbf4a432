"""Set-up shared by the rollback tests (`test_unlearning`, `test_sharded_unlearning`): the
conftest's two-hospital world turned into an `unlearn` study, its aggregator over the
unlearning fake ledger, one trained round, and an aggregator crash before a rollback is
recorded."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from consent.formats.revocation import RevocationMode, RevocationPolicy
from fl.ports import RoundState
from fl.roles import Aggregator, Trainer
from tests.unit.fl.roles.conftest import AGGREGATOR, World
from tests.unit.fl.roles.fakes import FakeUnlearningLedger

__all__ = ["crash_before_rollback", "one_round", "unlearn_plan", "unlearning_aggregator"]


def unlearn_plan(
    world: World, window_rounds: int = 1, window_seconds: float = 1e6, shards: int = 1
) -> None:
    """Give `world` an `unlearn` revocation policy (published as the study's metadata)."""
    policy = RevocationPolicy(
        mode=RevocationMode.UNLEARN,
        window_rounds=window_rounds,
        window_seconds=window_seconds,
        shards=shards,
    )
    world.plan = replace(world.plan, revocation=policy)
    world.chain.study = replace(
        world.chain.study, metadata_cid=world.store.put(world.plan.to_json_bytes())
    )


def unlearning_aggregator(world: World, rounds: int) -> Aggregator:
    """The aggregator over the fake ledger that records rollbacks, on a clock stopped at 0."""
    return Aggregator(
        study=world.study,
        ledger=FakeUnlearningLedger(world.chain, AGGREGATOR),
        store=world.store,
        seal_key=world.seal.private_key,
        rounds=rounds,
        clock=lambda: 0.0,
    )


def _plain_trainer(world: World, h: int) -> Trainer:
    return world.trainer(h, state_dir=world.tmp / f"h{h}")


def one_round(
    world: World, agg: Aggregator, trainer: Callable[[World, int], Trainer] = _plain_trainer
) -> None:
    """Both hospitals train the open round, the aggregator finalizes it and opens the next."""
    agg.poll()  # opens a round if none is open
    for h in (0, 1):
        trainer(world, h).step()
    assert agg.poll() is not None


def crash_before_rollback(world: World, agg: Aggregator, round_: int) -> None:
    """`agg` is killed between opening rollback round `round_` and recording it: the round is
    open on the fake chain and no rollback is recorded."""

    def crash() -> None:
        world.chain.before_rollback.clear()
        raise RuntimeError("aggregator killed between opening and recording the rollback")

    world.chain.before_rollback.append(crash)
    with pytest.raises(RuntimeError, match="killed"):
        agg.poll()
    assert world.chain.rounds[round_].state == RoundState.OPEN
    assert world.chain.rollbacks == {}
