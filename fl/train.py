"""Local training (FedAvg / FedProx client step) and evaluation.

`train_local` starts from the round's base state, trains on the hospital's rows and returns the
DELTA (trained - base), which is what the hospital publishes. FedProx (Li et al., 2020) adds
`mu/2 * ||w - w_base||^2` to every mini-batch loss; `proximal_mu=0` is plain FedAvg.

Training is deterministic for a given config seed: shuffling draws from a `torch.Generator`, never
the global RNG. (Bit-for-bit equality also needs the same torch build and thread count; set
`torch.set_num_threads` in entrypoints, not here.)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, get_args

import torch
from sklearn.metrics import mean_absolute_error, r2_score
from torch import Tensor, nn

from fl.aggregate import state_delta
from fl.data import Examples
from fl.errors import DataError, NoTrainingDataError, TrainingConfigError
from fl.metrics import MulticlassMetrics, multiclass_metrics
from fl.models import ModelSpec, load_state, state_of

__all__ = [
    "OPTIMIZERS",
    "ClassificationMetrics",
    "LocalResult",
    "LocalTrainingConfig",
    "Metrics",
    "MulticlassMetrics",
    "OptimizerName",
    "RegressionMetrics",
    "evaluate",
    "predict",
    "train_local",
]

OptimizerName = Literal["sgd", "adam"]
OPTIMIZERS: tuple[OptimizerName, ...] = get_args(OptimizerName)


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalTrainingConfig:
    """How a hospital trains in one round. `proximal_mu > 0` turns FedAvg into FedProx."""

    epochs: int = 1
    batch_size: int = 32
    lr: float = 0.01
    optimizer: OptimizerName = "sgd"
    momentum: float = 0.0
    proximal_mu: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not _int_at_least(self.epochs, 1):
            raise TrainingConfigError(f"epochs must be an integer >= 1, got {self.epochs!r}")
        if not _int_at_least(self.batch_size, 1):
            raise TrainingConfigError(
                f"batch_size must be an integer >= 1, got {self.batch_size!r}"
            )
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise TrainingConfigError(f"lr must be positive, got {self.lr!r}")
        if self.optimizer not in OPTIMIZERS:
            raise TrainingConfigError(
                f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}"
            )
        if not 0.0 <= self.momentum < 1.0:
            raise TrainingConfigError(f"momentum must be in [0, 1), got {self.momentum!r}")
        if self.momentum and self.optimizer != "sgd":
            raise TrainingConfigError("momentum applies to sgd only")
        if not (math.isfinite(self.proximal_mu) and self.proximal_mu >= 0):
            raise TrainingConfigError(f"proximal_mu must be >= 0, got {self.proximal_mu!r}")
        if not _int_at_least(self.seed, 0):
            raise TrainingConfigError(f"seed must be an integer >= 0, got {self.seed!r}")

    def to_json_dict(self) -> dict[str, object]:
        """A JSON-ready dict (for publishing a study's training plan)."""
        return {
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "optimizer": self.optimizer,
            "momentum": self.momentum,
            "proximal_mu": self.proximal_mu,
            "seed": self.seed,
        }

    @classmethod
    def from_json_dict(cls, data: Mapping[str, object]) -> LocalTrainingConfig:
        """The config a `to_json_dict` dict describes; `TrainingConfigError` if malformed."""
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise TrainingConfigError(f"unknown training config fields: {sorted(unknown)}")
        try:
            return cls(**data)  # type: ignore[arg-type]  # each field is validated in __post_init__
        except TypeError as exc:
            raise TrainingConfigError(f"malformed training config: {exc}") from exc


def _int_at_least(value: object, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


@dataclass(frozen=True, slots=True)
class LocalResult:
    """One hospital's round: the update (trained - base), its weight, and the training loss."""

    delta: dict[str, Tensor]
    num_samples: int
    train_loss: float
    """Mean data loss (without the proximal term) over the last local epoch."""


@dataclass(frozen=True, slots=True)
class ClassificationMetrics:
    num_samples: int
    loss: float
    """Mean binary cross-entropy."""
    accuracy: float

    def to_json_dict(self) -> dict[str, object]:
        return {"task": "classification", "num_samples": self.num_samples, "loss": self.loss,
                "accuracy": self.accuracy}  # fmt: skip


@dataclass(frozen=True, slots=True)
class RegressionMetrics:
    num_samples: int
    mse: float
    mae: float
    r2: float

    @property
    def loss(self) -> float:
        return self.mse

    def to_json_dict(self) -> dict[str, object]:
        return {"task": "regression", "num_samples": self.num_samples, "mse": self.mse,
                "mae": self.mae, "r2": self.r2}  # fmt: skip


Metrics = ClassificationMetrics | RegressionMetrics | MulticlassMetrics


class _ClassIndexCrossEntropy(nn.CrossEntropyLoss):
    """Softmax cross-entropy taking the float labels datasets hold as class indices."""

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return super().forward(input, target.long())


def _cross_entropy(outputs: Tensor, labels: Tensor) -> Tensor:
    return nn.functional.cross_entropy(outputs, labels.long())


def _loss_fn(spec: ModelSpec) -> nn.Module:
    if spec.task == "multiclass":
        return _ClassIndexCrossEntropy()
    return nn.BCEWithLogitsLoss() if spec.task == "classification" else nn.MSELoss()


def _optimizer(model: nn.Module, config: LocalTrainingConfig) -> torch.optim.Optimizer:
    if config.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=config.lr)
    return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum)


def train_local(
    spec: ModelSpec,
    base_state: Mapping[str, Tensor],
    dataset: Examples,
    config: LocalTrainingConfig,
) -> LocalResult:
    """Train a copy of `base_state` on `dataset`; return the delta, the row count and the loss.

    Never modifies `base_state` or `dataset`. Raises `NoTrainingDataError` on an empty dataset,
    `DataError` when the dataset does not fit `spec` and `ModelStateError` when `base_state`
    does not.
    """
    n = len(dataset)
    if n == 0:
        raise NoTrainingDataError("no rows to train on")
    if dataset.features.shape[1] != spec.n_features or dataset.task != spec.task:
        raise DataError(
            f"dataset ({dataset.task}, {dataset.features.shape[1]} features) does not fit "
            f"the model ({spec.task}, {spec.n_features} features)"
        )
    if spec.task == "multiclass" and int(dataset.labels.max()) >= spec.n_outputs:
        raise DataError(
            f"label {int(dataset.labels.max())} is outside the model's {spec.n_outputs} classes"
        )
    model = load_state(spec, base_state)
    anchors = [p.detach().clone() for p in model.parameters()]
    loss_fn, optimizer = _loss_fn(spec), _optimizer(model, config)
    generator = torch.Generator().manual_seed(config.seed)
    features, labels = dataset.features, dataset.labels
    model.train()
    epoch_loss = math.nan
    for _ in range(config.epochs):
        order = torch.randperm(n, generator=generator)
        total = 0.0
        for start in range(0, n, config.batch_size):
            rows = order[start : start + config.batch_size]
            data_loss = loss_fn(model(features[rows]).squeeze(-1), labels[rows])
            loss = data_loss
            if config.proximal_mu > 0:
                drift = sum(
                    ((p - a) ** 2).sum() for p, a in zip(model.parameters(), anchors, strict=True)
                )
                loss = data_loss + config.proximal_mu / 2 * drift
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(data_loss.detach()) * len(rows)
        epoch_loss = total / n
    return LocalResult(
        delta=state_delta(state_of(model), base_state), num_samples=n, train_loss=epoch_loss
    )


@torch.no_grad()
def predict(spec: ModelSpec, state: Mapping[str, Tensor], features: Tensor) -> Tensor:
    """Raw model outputs (logits for classification), one per row (a row of C for multiclass)."""
    model = load_state(spec, state)
    model.eval()
    out: Tensor = model(features).squeeze(-1)
    return out


def evaluate(spec: ModelSpec, state: Mapping[str, Tensor], dataset: Examples) -> Metrics:
    """Metrics of `state` on `dataset`: accuracy and BCE for classification; accuracy,
    cross-entropy and F1 for multiclass; MSE, MAE, R2 for regression."""
    if len(dataset) == 0:
        raise NoTrainingDataError("no rows to evaluate on")
    outputs = predict(spec, state, dataset.features)
    labels = dataset.labels
    if spec.task == "multiclass":
        loss = float(_cross_entropy(outputs, labels))
        predicted = outputs.argmax(dim=1).numpy()
        return multiclass_metrics(labels.numpy(), predicted, spec.n_outputs, loss)
    if spec.task == "classification":
        loss = float(nn.functional.binary_cross_entropy_with_logits(outputs, labels))
        accuracy = float(((outputs > 0).float() == labels).float().mean())
        return ClassificationMetrics(num_samples=len(dataset), loss=loss, accuracy=accuracy)
    y_true, y_pred = labels.double().numpy(), outputs.double().numpy()
    return RegressionMetrics(
        num_samples=len(dataset),
        mse=float(((outputs - labels) ** 2).mean()),
        mae=float(mean_absolute_error(y_true, y_pred)),
        r2=float(r2_score(y_true, y_pred)) if len(dataset) > 1 else math.nan,
    )
