"""SISA shards through the round protocol (issue 16): a learner around the plan's own (`inner`)
learner that trains `shards` isolated sub-models in one bundle.

The state is a bundle: sub-model `s` under the keys `shard{s}.<name>` (every shard starts from the
plan's one initial model: a shared warm start) and `sisa.rounds`, the number of rounds each
sub-model's lineage carries. A patient's rows train only sub-model `consent.lineage.shard_of(
patient, shards)`, so the plan's shard count commits every patient's shard and a replay of a
hospital's update (`fl.roles.replay`) recomputes the split.

The shards that train in a round are decided by the base bundle alone (`active_shards`): the ones
whose `sisa.rounds` is below the highest, or all when none lags. A rollback round
(`fl.roles.shards`) swaps in older sub-models for the retrained shards, which then train alone
until they catch up, each such round costing about 1/S of a full one: the same rule as
`consent.lineage.shard_lineages`, so the counters always equal the chain's shard lineages.

An update is a bundle of sub-deltas (zero for a shard that did not train), `sisa.weights`, the
hospital's patient count in each trained shard (FedAvg weights shard `s`'s sub-deltas by it),
and the base's `sisa.rounds` it trained on. Screening refuses weights that do not sum to at most
the contract-bounded patient count, counters other than the base's, and a non-zero sub-delta of
a shard that did not train. The model in use is the ensemble: its
probability is the mean of the sub-models' probabilities (binary classification only).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar, Final

import torch
from torch import Tensor, nn

from consent.lineage import ROUNDS_KEY, shard_of, shard_prefix
from fl.data import Examples, HospitalDataset
from fl.errors import AggregationError, LearnerPlanError
from fl.learner import Learner
from fl.models import ModelSpec
from fl.strategy import Aggregation, ClientUpdate, RejectedUpdate, Strategy, UpdateDecision
from fl.train import ClassificationMetrics, LocalResult, LocalTrainingConfig, Metrics, predict

__all__ = ["ROUNDS_KEY", "WEIGHTS_KEY", "ShardedLearner", "shard_keys", "sub_state"]

WEIGHTS_KEY: Final = "sisa.weights"
"""Per shard, the hospital's patients in the shard's trained rows (in an update)."""


def shard_keys(s: int) -> str:
    """The key prefix of shard `s`'s sub-model in a bundle (`consent.lineage.shard_prefix`)."""
    return shard_prefix(s)


def sub_state(bundle: Mapping[str, Tensor], s: int) -> dict[str, Tensor]:
    """Shard `s`'s sub-model (or sub-delta) of `bundle`, without its prefix."""
    prefix = shard_keys(s)
    return {k.removeprefix(prefix): v for k, v in bundle.items() if k.startswith(prefix)}


class ShardedLearner(Learner):
    """`inner` over `shards` isolated sub-models (see the module docstring)."""

    name: ClassVar[str] = "sharded"

    def __init__(self, inner: Learner, shards: int) -> None:
        if shards < 2:
            raise LearnerPlanError(f"a sharded learner needs >= 2 shards, got {shards}")
        self.inner = inner
        self.shards = shards

    def check_plan(self, spec: ModelSpec, strategy: str) -> None:
        if spec.task != "classification":
            raise LearnerPlanError("SISA shards ensemble binary classifiers only")
        self.inner.check_plan(spec, strategy)

    def initial_state(self, spec: ModelSpec, *, seed: int) -> dict[str, Tensor]:
        one = self.inner.initial_state(spec, seed=seed)
        return self._bundle([one] * self.shards, torch.zeros(self.shards, dtype=torch.int64))

    def _bundle(self, subs: Sequence[Mapping[str, Tensor]], counter: Tensor) -> dict[str, Tensor]:
        state = {shard_keys(s) + k: v.clone() for s, sub in enumerate(subs) for k, v in sub.items()}
        state[ROUNDS_KEY] = counter
        return state

    def active_shards(self, base: Mapping[str, Tensor]) -> tuple[int, ...]:
        """The shards that train on `base` (the lagging ones, or all)."""
        counter = [int(v) for v in base[ROUNDS_KEY].tolist()]
        most = max(counter)
        lagging = tuple(s for s, n in enumerate(counter) if n < most)
        return lagging or tuple(range(self.shards))

    def local_step(
        self,
        spec: ModelSpec,
        base: Mapping[str, Tensor],
        dataset: HospitalDataset,
        config: LocalTrainingConfig,
    ) -> LocalResult:
        active = set(self.active_shards(base))
        shard = [shard_of(p, self.shards) for p in dataset.patients]
        deltas: list[Mapping[str, Tensor]] = []
        weights = torch.zeros(self.shards, dtype=torch.float32)
        rows, loss = 0, 0.0
        for s in range(self.shards):
            sub_base = sub_state(base, s)
            mask = torch.tensor([k == s for k in shard], dtype=torch.bool).numpy()
            if s not in active or not mask.any():
                template = self.inner.update_template(sub_base)
                deltas.append({k: torch.zeros_like(v) for k, v in template.items()})
                continue
            part = dataset.select(mask)
            result = self.inner.local_step(spec, sub_base, part, config)
            deltas.append(result.delta)
            weights[s] = float(len(part.distinct_patients()))
            rows += result.num_samples
            loss += result.train_loss * result.num_samples
        delta = {shard_keys(s) + k: v for s, d in enumerate(deltas) for k, v in d.items()}
        delta[WEIGHTS_KEY] = weights
        delta[ROUNDS_KEY] = base[ROUNDS_KEY].clone()  # the counters it trained on
        return LocalResult(delta, rows, loss / rows if rows else 0.0)

    def update_template(self, base: Mapping[str, Tensor]) -> Mapping[str, Tensor]:
        template = {
            shard_keys(s) + k: v
            for s in range(self.shards)
            for k, v in self.inner.update_template(sub_state(base, s)).items()
        }
        template[WEIGHTS_KEY] = torch.zeros(self.shards, dtype=torch.float32)
        template[ROUNDS_KEY] = base[ROUNDS_KEY]  # screening reads the active shards from it
        return template

    def screen(
        self, base: Mapping[str, Tensor], updates: Sequence[ClientUpdate]
    ) -> tuple[list[ClientUpdate], list[RejectedUpdate]]:
        """`base`: the update template (`update_template`), which carries the counters."""
        active = set(self.active_shards(base))
        accepted: list[ClientUpdate] = []
        rejected: list[RejectedUpdate] = []
        for update in updates:
            reason = self._refusal(base, update, active)
            if reason is None:
                accepted.append(update)
            else:
                rejected.append(RejectedUpdate(update, AggregationError(reason)))
        return accepted, rejected

    def _refusal(
        self, base: Mapping[str, Tensor], update: ClientUpdate, active: set[int]
    ) -> str | None:
        weights = update.delta.get(WEIGHTS_KEY)
        if weights is None or weights.shape != (self.shards,):
            return f"sharded update without {WEIGHTS_KEY} for {self.shards} shards"
        counters = update.delta.get(ROUNDS_KEY)
        if counters is None or not torch.equal(counters, base[ROUNDS_KEY]):
            return "a sharded update trained on other shard counters than the round's base"
        if not bool(torch.isfinite(weights).all()) or bool((weights < 0).any()):
            return "shard weights must be finite and >= 0"
        if bool((weights != weights.round()).any()) or float(weights.sum()) > update.num_samples:
            return (
                f"shard weights {weights.tolist()} are not patient counts summing to at most "
                f"the {update.num_samples} patients on chain"
            )
        for s in range(self.shards):
            sub = sub_state(update.delta, s)
            if s not in active or float(weights[s]) == 0:
                if any(bool(v.any()) for v in sub.values()):
                    return f"a non-zero delta for shard {s}, which did not train this round"
                continue
            one = ClientUpdate(update.client_id, sub, int(weights[s]))
            _, bad = self.inner.screen(sub_state(base, s), [one])
            if bad:
                return f"shard {s}: {bad[0].error}"
        return None

    def combine(
        self, base: Mapping[str, Tensor], updates: Sequence[ClientUpdate], strategy: Strategy
    ) -> Aggregation:
        active = self.active_shards(base)
        subs: list[Mapping[str, Tensor]] = []
        share = dict.fromkeys((u.client_id for u in updates), 0.0)
        for s in range(self.shards):
            sub_base = sub_state(base, s)
            members = [
                ClientUpdate(u.client_id, sub_state(u.delta, s), int(u.delta[WEIGHTS_KEY][s]))
                for u in updates
                if s in active and float(u.delta[WEIGHTS_KEY][s]) > 0
            ]
            if not members:
                subs.append(sub_base)
                continue
            aggregation = self.inner.combine(sub_base, members, strategy)
            subs.append(aggregation.state)
            for decision in aggregation.decisions:
                share[decision.client_id] += decision.weight / len(active)
        counter = base[ROUNDS_KEY].clone()
        counter[list(active)] += 1
        decisions = tuple(UpdateDecision(u.client_id, True, share[u.client_id]) for u in updates)
        return Aggregation(
            self._bundle(subs, counter), decisions, {"shards": {"trained": list(active)}}
        )

    def evaluate(self, spec: ModelSpec, state: Mapping[str, Tensor], dataset: Examples) -> Metrics:
        probability = self.probabilities(spec, state, dataset.features)
        labels = dataset.labels
        loss = float(nn.functional.binary_cross_entropy(probability.clamp(1e-7, 1 - 1e-7), labels))
        accuracy = float(((probability > 0.5).float() == labels).float().mean())
        return ClassificationMetrics(len(dataset), loss, accuracy)

    def probabilities(
        self, spec: ModelSpec, state: Mapping[str, Tensor], features: Tensor
    ) -> Tensor:
        """The ensemble's probability of class 1 per row: the sub-models' mean."""
        with torch.no_grad():
            return torch.stack(
                [
                    torch.sigmoid(predict(spec, sub_state(state, s), features))
                    for s in range(self.shards)
                ]
            ).mean(dim=0)
