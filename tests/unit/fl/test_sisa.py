"""SISA shards (issue 16): a committed shard assignment, only the affected shards retrained,
S = 1 is plain retraining, and the ensemble combines the sub-models."""

from __future__ import annotations

import pytest
import torch

from fl.errors import TrainingConfigError
from fl.models import ModelSpec
from fl.simulate import run_federated
from fl.sisa import ShardedModel, affected_shards, shard_of, shard_split, train_sharded
from fl.split import split_dataset
from fl.strategies import make_strategy
from fl.train import LocalTrainingConfig

SPEC = ModelSpec.linear(30, "classification")
CONFIG = LocalTrainingConfig(epochs=1, batch_size=32, lr=0.1)


def test_the_shard_of_a_patient_is_a_function_of_its_id_alone() -> None:
    ids = [f"0x{i:040x}" for i in range(400)]
    assert [shard_of(p, 8) for p in ids] == [shard_of(p.upper(), 8) for p in ids]
    counts = [sum(1 for p in ids if shard_of(p, 8) == s) for s in range(8)]
    assert min(counts) > 20  # spread over every shard
    assert {shard_of(p, 1) for p in ids} == {0}
    assert affected_shards([ids[0], ids[0]], 8) == (shard_of(ids[0], 8),)
    with pytest.raises(TrainingConfigError):
        shard_of(ids[0], 0)


def test_shards_partition_every_hospitals_rows_and_drop_the_excluded() -> None:
    split = split_dataset("breast-cancer", 3, seed=0)
    parts = shard_split(split, 4)
    total = sum(len(h) for h in split.hospitals)
    assert sum(len(h) for part in parts for h in part.hospitals) == total
    gone = split.hospitals[0].record_ids[0]
    without = shard_split(split, 4, excluded=[gone])
    assert sum(len(h) for part in without for h in part.hospitals) == total - 1
    assert all(gone not in h.record_ids for part in without for h in part.hospitals)


def test_one_shard_is_plain_federated_training_and_unlearning_retrains_only_affected() -> None:
    split = split_dataset("breast-cancer", 2, seed=0)
    fedavg = make_strategy("fedavg")
    single = train_sharded(
        shard_split(split, 1), SPEC, rounds=2, local_config=CONFIG, strategy=fedavg
    )
    plain = run_federated(split, SPEC, rounds=2, local_config=CONFIG, strategy=fedavg)
    assert all(torch.equal(single[0][k], plain.final_state[k]) for k in plain.final_state)

    parts = shard_split(split, 4)
    model = ShardedModel(
        SPEC,
        tuple(train_sharded(parts, SPEC, rounds=2, local_config=CONFIG, strategy=fedavg).values()),
    )
    revoked = [split.hospitals[1].record_ids[3]]
    shards = affected_shards(revoked, 4)
    cleaned = shard_split(split, 4, excluded=revoked)
    retrained = train_sharded(
        cleaned, SPEC, rounds=2, local_config=CONFIG, strategy=fedavg, only=shards
    )
    assert set(retrained) == set(shards)
    unlearned = model.replaced(retrained)
    for s in range(4):
        same = all(torch.equal(unlearned.states[s][k], model.states[s][k]) for k in model.states[s])
        assert same == (s not in shards)
    accuracy = unlearned.accuracy(split.test.features, split.test.labels)
    assert 0.8 < accuracy <= 1.0
