from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fl.aggregate import apply_delta
from fl.data import HospitalDataset
from fl.errors import DataError, NoTrainingDataError, TrainingConfigError
from fl.models import ModelSpec, build_model, initial_state
from fl.train import (
    ClassificationMetrics,
    LocalTrainingConfig,
    RegressionMetrics,
    evaluate,
    train_local,
)
from tests.unit.fl.conftest import patient

LINEAR = ModelSpec.linear(3, "classification")


def norm(delta: dict[str, torch.Tensor]) -> float:
    return math.sqrt(sum(float((t**2).sum()) for t in delta.values()))


def test_delta_is_trained_minus_base_for_one_full_batch_sgd_step(
    tiny_classification: HospitalDataset,
) -> None:
    base = initial_state(LINEAR, seed=1)
    config = LocalTrainingConfig(epochs=1, batch_size=len(tiny_classification), lr=0.3)
    model = build_model(LINEAR, seed=1)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(
        model(tiny_classification.features).squeeze(-1), tiny_classification.labels
    )
    loss.backward()

    result = train_local(LINEAR, base, tiny_classification, config)

    for name, param in model.named_parameters():
        assert param.grad is not None
        assert torch.allclose(result.delta[name], -0.3 * param.grad, atol=1e-6)
    assert result.num_samples == 40
    assert result.train_loss == pytest.approx(float(loss.detach()))


def test_training_never_modifies_the_base_state(tiny_classification: HospitalDataset) -> None:
    base = initial_state(LINEAR, seed=0)
    copy = {k: v.clone() for k, v in base.items()}

    train_local(LINEAR, base, tiny_classification, LocalTrainingConfig(epochs=3, lr=0.5))

    assert all(torch.equal(base[k], copy[k]) for k in base)


def test_local_training_reduces_the_loss(tiny_classification: HospitalDataset) -> None:
    base = initial_state(LINEAR, seed=0)
    config = LocalTrainingConfig(epochs=20, batch_size=8, lr=0.2)

    result = train_local(LINEAR, base, tiny_classification, config)
    before = evaluate(LINEAR, base, tiny_classification)
    after = evaluate(LINEAR, apply_delta(base, result.delta), tiny_classification)

    assert after.loss < before.loss
    assert isinstance(after, ClassificationMetrics)
    assert after.accuracy >= 0.9


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_same_seed_gives_identical_deltas_and_another_seed_does_not(
    tiny_classification: HospitalDataset, optimizer: str
) -> None:
    spec = ModelSpec.mlp(3, "classification", hidden=(4,))
    base = initial_state(spec, seed=0)

    def delta(seed: int) -> dict[str, torch.Tensor]:
        config = LocalTrainingConfig(epochs=2, batch_size=8, optimizer=optimizer, seed=seed)  # type: ignore[arg-type]
        return train_local(spec, base, tiny_classification, config).delta

    a, b, c = delta(3), delta(3), delta(4)

    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_large_proximal_mu_keeps_weights_near_the_base(
    tiny_classification: HospitalDataset,
) -> None:
    base = initial_state(LINEAR, seed=0)

    def drift(mu: float) -> float:
        config = LocalTrainingConfig(epochs=10, batch_size=8, lr=0.01, proximal_mu=mu)
        return norm(train_local(LINEAR, base, tiny_classification, config).delta)

    assert drift(100.0) < 0.1 * drift(0.0)


def test_training_on_no_rows_fails(tiny_classification: HospitalDataset) -> None:
    empty = tiny_classification.select(np.zeros(len(tiny_classification), dtype=np.bool_))

    with pytest.raises(NoTrainingDataError):
        train_local(LINEAR, initial_state(LINEAR, seed=0), empty, LocalTrainingConfig())


def test_dataset_that_does_not_fit_the_model_fails(tiny_classification: HospitalDataset) -> None:
    spec = ModelSpec.linear(4, "classification")

    with pytest.raises(DataError, match="does not fit"):
        train_local(spec, initial_state(spec, seed=0), tiny_classification, LocalTrainingConfig())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"epochs": 0},
        {"batch_size": 0},
        {"lr": 0.0},
        {"lr": math.nan},
        {"optimizer": "rmsprop"},
        {"momentum": 1.0},
        {"optimizer": "adam", "momentum": 0.9},
        {"proximal_mu": -0.1},
        {"seed": -1},
    ],
)
def test_invalid_training_config_is_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(TrainingConfigError):
        LocalTrainingConfig(**kwargs)  # type: ignore[arg-type]


def test_training_config_json_round_trip_and_unknown_field() -> None:
    config = LocalTrainingConfig(epochs=2, lr=0.1, optimizer="adam", proximal_mu=0.01, seed=4)

    assert LocalTrainingConfig.from_json_dict(config.to_json_dict()) == config
    with pytest.raises(TrainingConfigError, match="unknown"):
        LocalTrainingConfig.from_json_dict({"epochs": 1, "rounds": 3})


def test_classification_metrics_match_hand_computation() -> None:
    # logit = x: rows predicted 1, 0, 1, 0 against labels 1, 0, 0, 0 -> 3 of 4 right.
    dataset = HospitalDataset(
        patients=tuple(patient(i) for i in range(4)),
        features=torch.tensor([[2.0], [-1.0], [0.5], [-3.0]]),
        labels=torch.tensor([1.0, 0.0, 0.0, 0.0]),
        task="classification",
        feature_names=("x",),
    )
    spec = ModelSpec.linear(1, "classification")
    state = {"0.weight": torch.tensor([[1.0]]), "0.bias": torch.tensor([0.0])}

    metrics = evaluate(spec, state, dataset)

    logits = [2.0, -1.0, 0.5, -3.0]
    expected_loss = (
        math.log1p(math.exp(-2.0)) + math.log1p(math.exp(-1.0))
        + math.log1p(math.exp(0.5)) + math.log1p(math.exp(-3.0))
    ) / len(logits)  # fmt: skip
    assert metrics == ClassificationMetrics(
        num_samples=4, loss=pytest.approx(expected_loss), accuracy=0.75
    )


def test_regression_metrics_match_hand_computation() -> None:
    # A zero model predicts 0: errors are y itself.
    dataset = HospitalDataset(
        patients=tuple(patient(i) for i in range(4)),
        features=torch.ones(4, 2),
        labels=torch.tensor([1.0, -1.0, 2.0, 0.0]),
        task="regression",
        feature_names=("x", "z"),
    )
    spec = ModelSpec.linear(2, "regression")
    state = {"0.weight": torch.zeros(1, 2), "0.bias": torch.zeros(1)}

    metrics = evaluate(spec, state, dataset)

    # mse = (1 + 1 + 4 + 0) / 4; mae = 4 / 4; r2 = 1 - 6 / sum((y - 0.5)^2) = 1 - 6 / 5
    assert isinstance(metrics, RegressionMetrics)
    assert metrics.mse == pytest.approx(1.5)
    assert metrics.mae == pytest.approx(1.0)
    assert metrics.r2 == pytest.approx(-0.2)
