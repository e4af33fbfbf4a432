"""fl.privacy: the RDP we charge is Opacus' own accountant's, DP-SGD clips and noises per sample,
client-level DP clips updates and noises the sum, and the plan carries the terms."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
from opacus.accountants import RDPAccountant

from consent.formats.privacy import PrivacyMode, PrivacySpec
from consent.privacy import SCALE, BudgetLedger, DpTerms
from fl.data import HospitalDataset
from fl.learners import SgdDelta
from fl.models import ModelSpec, initial_state
from fl.privacy import (
    AccountantMismatchError,
    ClientDpLearner,
    RecordDpLearner,
    calibrate_noise,
    clip_update,
    dp_sgd,
    rdp_increment,
    rdp_increment_fixed,
    rdp_of_history,
)
from fl.roles import StudyPlan
from fl.roles.errors import MetadataError
from fl.strategies import make_strategy
from fl.strategy import ClientUpdate
from fl.train import LocalTrainingConfig, loss_function

TERMS = DpTerms(
    epsilon=3.0,
    delta=1e-5,
    noise_multiplier=1.1,
    max_grad_norm=1.0,
    sample_rate=0.0625,
    steps_per_round=32,
)


def _dataset(n: int = 256, seed: int = 0) -> HospitalDataset:
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(n, 4, generator=generator)
    labels = (features[:, 0] > 0).float()
    rows = tuple(f"0x{i + 1:040x}" for i in range(n))
    return HospitalDataset(rows, features, labels, "classification", ("a", "b", "c", "d"))  # type: ignore[arg-type]


def test_increment_equals_opacus_accountant_fed_the_same_steps() -> None:
    accountant = RDPAccountant()
    for _ in range(TERMS.steps_per_round):
        accountant.step(noise_multiplier=TERMS.noise_multiplier, sample_rate=TERMS.sample_rate)
    ours = rdp_increment(TERMS)
    theirs = rdp_of_history(accountant, TERMS.orders)
    assert all(math.isclose(a, b, abs_tol=1e-6) for a, b in zip(ours, theirs, strict=True))
    # and Opacus' own epsilon over these orders is no larger than our (Mironov) conversion's
    opacus_eps = accountant.get_epsilon(delta=TERMS.delta, alphas=list(TERMS.orders))
    assert opacus_eps <= TERMS.epsilon_of(ours) + 1e-9
    assert all(f >= v * SCALE for f, v in zip(rdp_increment_fixed(TERMS), ours, strict=True))


def test_dp_sgd_accountant_records_exactly_the_declared_mechanism() -> None:
    spec = ModelSpec.linear(4, "classification")
    from fl.models import load_state

    model = load_state(spec, initial_state(spec, seed=0))
    data = _dataset()
    done = dp_sgd(
        model, loss_function(spec), data.features, data.labels, TERMS, lr=0.1, noise_seed=1
    )
    assert done.steps == TERMS.steps_per_round
    recorded = rdp_of_history(done.accountant, TERMS.orders)
    assert all(
        math.isclose(a, b, abs_tol=1e-6)
        for a, b in zip(recorded, rdp_increment(TERMS), strict=True)
    )
    assert not any(
        hasattr(p, "grad_sample") and p.grad_sample is not None for p in model.parameters()
    )


def test_dp_sgd_on_a_few_rows_steps_through_empty_poisson_batches_with_noise_only() -> None:
    spec = ModelSpec.linear(4, "classification")
    from fl.models import load_state

    model = load_state(spec, initial_state(spec, seed=0))
    data = _dataset()
    sparse = replace(TERMS, sample_rate=0.01, steps_per_round=8)  # most batches of 4 rows empty
    before = [p.detach().clone() for p in model.parameters()]
    done = dp_sgd(
        model, loss_function(spec), data.features[:4], data.labels[:4], sparse, lr=0.1,
        noise_seed=3,
    )  # fmt: skip
    assert done.steps == sparse.steps_per_round
    assert all(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_record_dp_learner_same_seed_same_update_bit_for_bit() -> None:
    spec = ModelSpec.linear(4, "classification")
    base = initial_state(spec, seed=0)
    config = LocalTrainingConfig(epochs=1, batch_size=16, lr=0.5, seed=5)
    data = _dataset()
    one = RecordDpLearner(SgdDelta(), TERMS, noise_seed=9).local_step(spec, base, data, config)
    two = RecordDpLearner(SgdDelta(), TERMS, noise_seed=9).local_step(spec, base, data, config)
    assert all(torch.equal(one.delta[k], two.delta[k]) for k in one.delta)


def test_record_dp_learner_noise_depends_on_its_seed() -> None:
    spec = ModelSpec.linear(4, "classification")
    base = initial_state(spec, seed=0)
    config = LocalTrainingConfig(epochs=1, batch_size=16, lr=0.5)
    data = _dataset()
    one = RecordDpLearner(SgdDelta(), TERMS, noise_seed=1).local_step(spec, base, data, config)
    two = RecordDpLearner(SgdDelta(), TERMS, noise_seed=2).local_step(spec, base, data, config)
    assert not torch.equal(one.delta["0.weight"], two.delta["0.weight"])
    assert torch.isfinite(one.delta["0.weight"]).all()
    assert one.num_samples == 256


def test_record_dp_learner_clips_each_sample_gradient() -> None:
    # one step over every row (q = 1) with negligible noise: the step is -lr * mean of the
    # per-sample gradients clipped to C, so its norm is at most lr * C; plain SGD's is far larger
    spec = ModelSpec.linear(4, "classification")
    base = initial_state(spec, seed=0)
    data = _dataset(64)
    big = replace(data, features=data.features * 100, labels=1 - data.labels)
    terms = replace(
        TERMS, sample_rate=1.0, steps_per_round=1, noise_multiplier=1e-9, max_grad_norm=0.5
    )
    config = LocalTrainingConfig(epochs=1, batch_size=64, lr=1.0)
    private = RecordDpLearner(SgdDelta(), terms, noise_seed=0).local_step(spec, base, big, config)
    plain = SgdDelta().local_step(spec, base, big, config)

    def norm(delta: dict[str, torch.Tensor]) -> float:
        return math.sqrt(sum(float(t.pow(2).sum()) for t in delta.values()))

    assert norm(private.delta) <= 1.0 * 0.5 + 1e-6
    assert norm(plain.delta) > 10 * norm(private.delta)


def test_record_dp_learner_refuses_what_dp_sgd_cannot_run() -> None:
    spec = ModelSpec.linear(4, "classification")
    adam = LocalTrainingConfig(optimizer="adam")
    with pytest.raises(Exception, match="plain SGD"):
        RecordDpLearner(SgdDelta(), TERMS).local_step(
            spec, initial_state(spec, seed=0), _dataset(), adam
        )


def test_a_mismatching_accountant_is_caught() -> None:
    from fl.privacy import _check_accountant

    accountant = RDPAccountant()
    accountant.step(noise_multiplier=0.5, sample_rate=TERMS.sample_rate)  # less noise than declared
    with pytest.raises(AccountantMismatchError):
        _check_accountant(TERMS, accountant)


def test_clip_update_bounds_the_global_norm() -> None:
    delta = {"a": torch.full((3,), 3.0), "b": torch.full((1,), 4.0)}
    clipped = clip_update(delta, 1.0)
    norm = math.sqrt(sum(float(t.pow(2).sum()) for t in clipped.values()))
    assert norm == pytest.approx(1.0)
    assert clip_update({"a": torch.tensor([0.1])}, 1.0)["a"].item() == pytest.approx(0.1)


def test_client_dp_combine_is_uniform_mean_of_clipped_plus_noise() -> None:
    terms = DpTerms(
        epsilon=8.0, delta=1e-5, noise_multiplier=1e-9, max_grad_norm=1.0,
        sample_rate=1.0, steps_per_round=1, level="client",
    )  # fmt: skip
    learner = ClientDpLearner(SgdDelta(), terms, noise_seed=0)
    base = {"w": torch.zeros(2)}
    updates = [
        ClientUpdate("a", {"w": torch.tensor([10.0, 0.0])}, 5),
        ClientUpdate("b", {"w": torch.tensor([0.0, 0.5])}, 500),
    ]
    combined = learner.combine(base, updates, make_strategy("fedavg"))
    # a is clipped to norm 1, weights are uniform despite 5 vs 500 samples
    assert combined.state["w"].tolist() == pytest.approx([0.5, 0.25], abs=1e-6)
    assert [d.weight for d in combined.decisions] == [0.5, 0.5]
    noisy = ClientDpLearner(
        SgdDelta(), DpTerms(**{**terms.to_json_dict(), "noise_multiplier": 1.0}), noise_seed=0
    ).combine(base, updates, make_strategy("fedavg"))
    assert noisy.state["w"].tolist() != pytest.approx([0.5, 0.25], abs=1e-3)


def test_calibrated_noise_fits_exactly_the_rounds_asked() -> None:
    rounds = 5
    calibrated = calibrate_noise(TERMS, rounds)
    ledger = BudgetLedger.fresh(calibrated.caps_fixed())
    assert ledger.rounds_left(rdp_increment_fixed(calibrated)) >= rounds
    lower = DpTerms(
        **{**calibrated.to_json_dict(), "noise_multiplier": calibrated.noise_multiplier - 0.01}
    )
    assert BudgetLedger.fresh(lower.caps_fixed()).rounds_left(rdp_increment_fixed(lower)) < rounds


def _dp(terms: DpTerms) -> PrivacySpec:
    return PrivacySpec(mode=PrivacyMode.DP, dp=terms)


def test_plan_carries_dp_terms_and_wraps_the_learner() -> None:
    plan = StudyPlan(model=ModelSpec.linear(4, "classification"), privacy=_dp(TERMS))
    again = StudyPlan.from_json_bytes(plan.to_json_bytes())
    assert again.dp == TERMS
    assert isinstance(again.make_learner(), RecordDpLearner)
    client = DpTerms(**{**TERMS.to_json_dict(), "level": "client", "steps_per_round": 1})
    assert isinstance(
        StudyPlan(model=plan.model, privacy=_dp(client)).make_learner(), ClientDpLearner
    )
    assert StudyPlan.from_json_bytes(StudyPlan(model=plan.model).to_json_bytes()).dp is None


def test_plan_with_malformed_dp_terms_is_a_metadata_error() -> None:
    import json

    body = json.loads(StudyPlan(model=ModelSpec.linear(4, "classification")).to_json_bytes())
    body["extensions"] = {"dp": {"epsilon": -1}}
    with pytest.raises(MetadataError, match="dp terms"):
        StudyPlan.from_json_bytes(json.dumps(body).encode())
