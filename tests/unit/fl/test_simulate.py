from __future__ import annotations

import torch

from fl.models import ModelSpec
from fl.simulate import run_federated, train_central
from fl.split import Split, split_dataset
from fl.strategies import FedAvg
from fl.train import LocalTrainingConfig, RegressionMetrics

SMALL_MLP = ModelSpec.mlp(30, "classification", hidden=(8,))
CONFIG = LocalTrainingConfig(epochs=1, batch_size=32, lr=0.05)


def test_federated_rounds_improve_on_the_initial_model(breast_cancer_iid: Split) -> None:
    history = run_federated(
        breast_cancer_iid, SMALL_MLP, rounds=3, local_config=CONFIG, strategy=FedAvg()
    )

    assert len(history.rounds) == 3
    assert history.final.loss < history.initial.loss
    assert history.final.accuracy > history.initial.accuracy  # type: ignore[union-attr]
    assert history.rounds[-1].train_loss < history.rounds[0].train_loss


def test_identical_runs_give_identical_models(breast_cancer_iid: Split) -> None:
    a, b = (
        run_federated(
            breast_cancer_iid, SMALL_MLP, rounds=2, local_config=CONFIG, strategy=FedAvg()
        )
        for _ in range(2)
    )

    assert all(torch.equal(a.final_state[k], b.final_state[k]) for k in a.final_state)


def test_zero_rounds_leave_the_initial_model(breast_cancer_iid: Split) -> None:
    history = run_federated(
        breast_cancer_iid, SMALL_MLP, rounds=0, local_config=CONFIG, strategy=FedAvg()
    )

    assert history.rounds == ()
    assert history.final == history.initial


def test_central_training_improves_on_the_initial_model(breast_cancer_iid: Split) -> None:
    result = train_central(breast_cancer_iid, SMALL_MLP, epochs=3, config=CONFIG)

    assert result.final.loss < result.initial.loss


def test_fedprox_on_label_skewed_regression_improves_r2() -> None:
    split = split_dataset("diabetes", 3, non_iid=True, skew="shards", seed=0)
    spec = ModelSpec.linear(10, "regression")
    config = LocalTrainingConfig(epochs=2, batch_size=16, lr=0.02, proximal_mu=0.1)

    history = run_federated(split, spec, rounds=5, local_config=config, strategy=FedAvg())

    assert isinstance(history.final, RegressionMetrics)
    assert isinstance(history.initial, RegressionMetrics)
    assert history.final.r2 > history.initial.r2
    assert history.final.r2 > 0
