"""SISA shards through the learner seam (issue 16): each patient's rows train only their shard's
sub-model, lagging shards train alone, FedAvg weights each shard by its own patients, the
ensemble averages probabilities, an update that trains a shard it should not is refused, and a
hospital that moves a patient to another shard than the rule's fails the auditor's replay."""

from __future__ import annotations

from dataclasses import replace

import torch

from consent.formats.revocation import RevocationMode, RevocationPolicy
from consent.ids import Address, study_id
from consent.lineage import shard_of
from fl.data import HospitalDataset
from fl.learners.sgd_delta import SgdDelta
from fl.learners.sharded import ROUNDS_KEY, WEIGHTS_KEY, ShardedLearner, sub_state
from fl.models import ModelSpec
from fl.roles.plan import StudyPlan
from fl.roles.recompute import state_difference
from fl.roles.replay import local_payload
from fl.strategies import make_strategy
from fl.strategy import ClientUpdate
from fl.train import LocalTrainingConfig, evaluate

SPEC = ModelSpec.linear(4, "classification")
CONFIG = LocalTrainingConfig(epochs=1, batch_size=8, lr=0.5)
FEDAVG = make_strategy("fedavg")


def dataset(n: int, seed: int) -> HospitalDataset:
    g = torch.Generator().manual_seed(seed)
    features = torch.randn(n, 4, generator=g)
    return HospitalDataset(
        patients=tuple(Address(f"0x{seed:02x}{i:038x}") for i in range(n)),
        features=features,
        labels=(features[:, 0] > 0).float(),
        task="classification",
        feature_names=("a", "b", "c", "d"),
    )


def test_each_patient_trains_only_the_sub_model_of_their_shard() -> None:
    learner = ShardedLearner(SgdDelta(), 3)
    base = learner.initial_state(SPEC, seed=0)
    data = dataset(30, 1)
    result = learner.local_step(SPEC, base, data, CONFIG)
    for s in range(3):
        mine = torch.tensor([shard_of(p, 3) == s for p in data.patients]).numpy()
        alone = SgdDelta().local_step(SPEC, sub_state(base, s), data.select(mine), CONFIG)
        got = sub_state(result.delta, s)
        assert all(torch.allclose(got[k], alone.delta[k]) for k in alone.delta)
        assert int(result.delta[WEIGHTS_KEY][s]) == int(mine.sum())
    assert result.num_samples == 30


def test_lagging_shards_train_alone_and_the_counters_follow() -> None:
    learner = ShardedLearner(SgdDelta(), 3)
    base = learner.initial_state(SPEC, seed=0)
    assert learner.active_shards(base) == (0, 1, 2)
    base[ROUNDS_KEY] = torch.tensor([4, 2, 4])
    assert learner.active_shards(base) == (1,)
    data = dataset(30, 2)
    result = learner.local_step(SPEC, base, data, CONFIG)
    assert all(not v.any() for s in (0, 2) for v in sub_state(result.delta, s).values())
    update = ClientUpdate("h", result.delta, 30)
    accepted, rejected = learner.screen(base, [update])
    assert accepted == [update]
    assert not rejected
    combined = learner.combine(base, accepted, FEDAVG)
    assert combined.state[ROUNDS_KEY].tolist() == [4, 3, 4]
    for s in (0, 2):  # the frozen shards are carried bit for bit
        assert all(
            torch.equal(combined.state[k], base[k]) for k in base if k.startswith(f"shard{s}.")
        )
    assert combined.extensions == {"shards": {"trained": [1]}}


def test_fedavg_weights_each_shard_by_the_hospitals_patients_in_it() -> None:
    learner = ShardedLearner(SgdDelta(), 2)
    base = learner.initial_state(SPEC, seed=0)
    a = learner.local_step(SPEC, base, dataset(20, 3), CONFIG)
    b = learner.local_step(SPEC, base, dataset(6, 4), CONFIG)
    updates = [ClientUpdate("a", a.delta, 20), ClientUpdate("b", b.delta, 6)]
    combined = learner.combine(base, updates, FEDAVG)
    for s in range(2):
        wa, wb = float(a.delta[WEIGHTS_KEY][s]), float(b.delta[WEIGHTS_KEY][s])
        da, db = sub_state(a.delta, s), sub_state(b.delta, s)
        for k, v in sub_state(base, s).items():
            expected = v + (wa * da[k] + wb * db[k]) / (wa + wb)
            assert torch.allclose(sub_state(combined.state, s)[k], expected, atol=1e-6)


def test_an_update_training_a_frozen_shard_or_inflating_its_weights_is_refused() -> None:
    learner = ShardedLearner(SgdDelta(), 2)
    base = learner.initial_state(SPEC, seed=0)
    base[ROUNDS_KEY] = torch.tensor([1, 0])  # shard 1 catches up alone
    honest = learner.local_step(SPEC, base, dataset(20, 5), CONFIG).delta
    sneaky = dict(honest)
    sneaky["shard0.0.weight"] = torch.full_like(honest["shard0.0.weight"], 0.1)
    inflated = dict(honest)
    inflated[WEIGHTS_KEY] = torch.tensor([0.0, 50.0])
    _, rejected = learner.screen(
        base, [ClientUpdate("sneaky", sneaky, 20), ClientUpdate("inflated", inflated, 20)]
    )
    reasons = {r.update.client_id: str(r.error) for r in rejected}
    assert "shard 0, which did not train" in reasons["sneaky"]
    assert "at most the 20 patients on chain" in reasons["inflated"]


def test_the_ensemble_averages_the_sub_models_probabilities() -> None:
    learner = ShardedLearner(SgdDelta(), 2)
    state = learner.initial_state(SPEC, seed=0)
    state["shard1.0.weight"] = state["shard1.0.weight"] * -3.0
    data = dataset(40, 6)
    probability = learner.probabilities(SPEC, state, data.features)
    single = [
        torch.sigmoid(torch.nn.functional.linear(data.features, *subs)).squeeze(-1)
        for subs in ((state[f"shard{s}.0.weight"], state[f"shard{s}.0.bias"]) for s in range(2))
    ]
    assert torch.allclose(probability, (single[0] + single[1]) / 2, atol=1e-6)
    metrics = learner.evaluate(SPEC, state, data)
    assert metrics.accuracy == float(((probability > 0.5).float() == data.labels).float().mean())
    assert evaluate(SPEC, sub_state(state, 0), data).num_samples == metrics.num_samples


def test_a_hospital_that_trains_a_patient_in_another_shard_than_the_rule_fails_replay() -> None:
    """The attack: hospital trains patient p's rows into shard j while the rule puts p in k.
    The auditor's replay (`fl.roles.replay`) recomputes the payload with the rule from the
    disclosed rows; the lying payload differs in exactly shards j and k (and their weights)."""
    plan = StudyPlan(
        model=SPEC,
        training=CONFIG,
        revocation=RevocationPolicy(
            mode=RevocationMode.UNLEARN, window_rounds=1, window_seconds=60.0, shards=3
        ),
    )
    honest = plan.make_learner()
    assert isinstance(honest, ShardedLearner)
    data = dataset(24, 7)
    moved = data.patients[0]
    k = shard_of(moved, 3)
    j = (k + 1) % 3

    class Lying(ShardedLearner):
        """Puts `moved`'s rows in shard j; everyone else by the rule."""

        def local_step(self, spec, base, dataset, config):  # type: ignore[no-untyped-def]
            fake = tuple(
                next(a for a in dataset.patients if shard_of(a, 3) == j) if p == moved else p
                for p in dataset.patients
            )
            return super().local_step(spec, base, replace(dataset, patients=fake), config)

    base = plan.initial_state()
    kwargs = {"study": study_id("replay"), "round_": 0, "hospital": Address("0x" + "b1" * 20)}
    replayed = local_payload(plan, base, data, **kwargs)  # type: ignore[arg-type]
    lying = local_payload(
        plan,
        base,
        data,
        train=Lying(SgdDelta(), 3).local_step,
        **kwargs,  # type: ignore[arg-type]
    )
    assert replayed.payload != lying.payload
    difference = state_difference(replayed.payload, lying.payload)
    assert f"shard{j}." in difference
    assert f"shard{k}." in difference
    assert WEIGHTS_KEY in difference
    other = ({0, 1, 2} - {j, k}).pop()
    assert f"shard{other}." not in difference
    again = local_payload(plan, base, data, **kwargs)  # type: ignore[arg-type]
    assert again.payload == replayed.payload  # the honest update replays bit for bit
