"""SISA-style sharded unlearning (Bourtoule et al., "Machine Unlearning", 2021), federated:
each hospital's rows are split into `shards` shards by patient, shard `s` of every hospital
trains its own federated model (isolated: no update crosses shards), and the study's model is
the ensemble of the `shards` sub-models (their mean probability). A revocation retrains only the
shards that held the patient, from their last clean checkpoint (the initial model: shards are
not sliced here), so unlearning costs about 1/S of retraining everything. S = 1 is plain
rollback and retraining.

The shard a patient falls in is `shard_of(patient)`: SHA-256 of the patient id modulo S, a
function of the id alone, so it is committed the moment the plan fixes S: a hospital cannot move
a patient between shards, and an auditor recomputes which shards a revocation must retrain.

This module is the in-process simulation `bench/bench_unlearn.py` measures (time to a clean
model, accuracy, forgetting); the roles run shards through `fl.learners.sharded` (the same rule,
`consent.lineage.shard_of`) and `fl.roles.shards`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import Tensor

from consent.lineage import shard_of as lineage_shard_of
from fl.errors import TrainingConfigError
from fl.models import ModelSpec
from fl.simulate import run_federated
from fl.split import Split
from fl.strategy import Strategy
from fl.train import LocalTrainingConfig, predict

__all__ = ["ShardedModel", "affected_shards", "shard_of", "shard_split", "train_sharded"]


def shard_of(patient: str, shards: int) -> int:
    """The shard of `patient` (a record or patient id; case-insensitive) among `shards`: the
    study's rule, `consent.lineage.shard_of`."""
    try:
        return lineage_shard_of(patient, shards)
    except ValueError as exc:
        raise TrainingConfigError(str(exc)) from exc


def affected_shards(revoked: Collection[str], shards: int) -> tuple[int, ...]:
    """The shards holding any of `revoked`, ascending: the ones a revocation retrains."""
    return tuple(sorted({shard_of(p, shards) for p in revoked}))


def shard_split(split: Split, shards: int, excluded: Collection[str] = ()) -> tuple[Split, ...]:
    """Per shard, the split restricted to every hospital's rows of that shard, without the
    `excluded` record ids (a hospital with no row in a shard keeps an empty part out)."""
    dropped = {e.lower() for e in excluded}
    parts: list[Split] = []
    for s in range(shards):
        hospitals = []
        for hospital in split.hospitals:
            mask = np.array(
                [
                    shard_of(r, shards) == s and r.lower() not in dropped
                    for r in hospital.record_ids
                ],
                dtype=bool,
            )
            if mask.any():
                hospitals.append(hospital.select(mask))
        parts.append(replace(split, hospitals=tuple(hospitals)))
    return tuple(parts)


@dataclass(frozen=True, slots=True, eq=False)
class ShardedModel:
    """The `shards` sub-models of a binary classification study, combined as an ensemble."""

    spec: ModelSpec
    states: tuple[Mapping[str, Tensor], ...]

    def probabilities(self, features: Tensor) -> Tensor:
        """The ensemble's probability of class 1 per row (the sub-models' mean)."""
        with torch.no_grad():
            return torch.stack(
                [torch.sigmoid(predict(self.spec, s, features)) for s in self.states]
            ).mean(dim=0)

    def accuracy(self, features: Tensor, labels: Tensor) -> float:
        """The ensemble's accuracy on (`features`, `labels`)."""
        return float(((self.probabilities(features) > 0.5).float() == labels).float().mean())

    def replaced(self, retrained: Mapping[int, Mapping[str, Tensor]]) -> ShardedModel:
        """The ensemble with the sub-models of `retrained` (shard -> state) swapped in."""
        return replace(
            self, states=tuple(retrained.get(s, state) for s, state in enumerate(self.states))
        )


def train_sharded(
    parts: Sequence[Split],
    spec: ModelSpec,
    *,
    rounds: int,
    local_config: LocalTrainingConfig,
    strategy: Strategy,
    only: Collection[int] | None = None,
    init_seed: int = 0,
) -> dict[int, dict[str, Tensor]]:
    """Train shard `s`'s federated model from the initial model for every `s` in `only` (all
    shards by default): `rounds` rounds of `strategy` over the hospitals' rows of that shard."""
    if spec.task != "classification":
        raise TrainingConfigError("sharded ensembles here combine binary classifiers only")
    wanted = range(len(parts)) if only is None else sorted(only)
    return {
        s: run_federated(
            parts[s],
            spec,
            rounds=rounds,
            local_config=local_config,
            strategy=strategy,
            init_seed=init_seed,
        ).final_state
        for s in wanted
    }
