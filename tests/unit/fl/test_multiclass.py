"""Multiclass learners (multinomial logistic, MLP with a softmax head) through train/FedAvg."""

from __future__ import annotations

import pytest
import torch

from fl.data import HospitalDataset
from fl.errors import DataError, ModelSpecError
from fl.metrics import MulticlassMetrics, multiclass_metrics
from fl.models import ModelSpec, initial_state
from fl.simulate import run_federated
from fl.split import split_dataset
from fl.strategies import FedAvg
from fl.train import LocalTrainingConfig, evaluate, train_local


def test_a_multiclass_model_has_one_logit_per_class_and_needs_three_or_more() -> None:
    spec = ModelSpec.linear(64, "multiclass", n_outputs=10)
    assert initial_state(spec, seed=0)["0.weight"].shape == (10, 64)
    with pytest.raises(ModelSpecError, match="classes >= 3"):
        ModelSpec.linear(4, "multiclass", n_outputs=2)
    with pytest.raises(ModelSpecError, match="n_outputs=1"):
        ModelSpec.linear(4, "classification", n_outputs=3)


@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_wine_trains_as_three_classes_federated(kind: str) -> None:
    split = split_dataset("wine", 3, seed=0)
    assert split.task == "multiclass"
    spec = (
        ModelSpec.linear(13, "multiclass", n_outputs=3)
        if kind == "linear"
        else ModelSpec.mlp(13, "multiclass", (16,), n_outputs=3)
    )
    config = LocalTrainingConfig(epochs=2, batch_size=32, lr=0.05)
    history = run_federated(split, spec, rounds=3, local_config=config, strategy=FedAvg())
    final = history.final
    assert isinstance(final, MulticlassMetrics)
    assert isinstance(history.initial, MulticlassMetrics)
    assert len(final.f1_per_class) == 3
    assert history.initial.accuracy < 0.6
    assert final.accuracy > 0.9  # the gap to central training is measured in bench_learners


def test_a_label_outside_the_model_classes_is_refused() -> None:
    spec = ModelSpec.linear(2, "multiclass", n_outputs=3)
    data = HospitalDataset(
        patients=("0x" + "11" * 20,) * 2,  # type: ignore[arg-type]
        features=torch.zeros(2, 2),
        labels=torch.tensor([0.0, 3.0]),
        task="multiclass",
        feature_names=("a", "b"),
    )
    with pytest.raises(DataError, match="outside the model's 3 classes"):
        train_local(spec, initial_state(spec, seed=0), data, LocalTrainingConfig())


def test_multiclass_labels_must_be_class_indices() -> None:
    with pytest.raises(DataError, match="class indices"):
        HospitalDataset(
            patients=("0x" + "11" * 20,),  # type: ignore[arg-type]
            features=torch.zeros(1, 2),
            labels=torch.tensor([1.5]),
            task="multiclass",
            feature_names=("a", "b"),
        )


def test_metrics_report_accuracy_and_f1_per_class() -> None:
    metrics = multiclass_metrics([0, 1, 2, 2], [0, 1, 1, 2], 4)
    assert metrics.accuracy == 0.75
    assert metrics.f1_per_class == pytest.approx((1.0, 2 / 3, 2 / 3, 0.0))
    assert metrics.macro_f1 == pytest.approx(7 / 12)
    spec = ModelSpec.linear(2, "multiclass", n_outputs=3)
    data = HospitalDataset(
        patients=("0x" + "11" * 20,) * 3,  # type: ignore[arg-type]
        features=torch.eye(3)[:, :2],
        labels=torch.tensor([0.0, 1.0, 2.0]),
        task="multiclass",
        feature_names=("a", "b"),
    )
    assert evaluate(spec, initial_state(spec, seed=0), data).to_json_dict()["task"] == "multiclass"
