"""Model architectures, described by a serializable `ModelSpec` so every party builds the same one.

Binary classification has ONE output logit (loss: binary cross-entropy with logits, prediction:
logit > 0). Multiclass has one logit per class (`n_outputs` = C >= 3; loss: softmax cross-entropy,
prediction: argmax). Regression has one output (loss: mean squared error). "linear" is logistic
regression for classification (multinomial for multiclass) and linear regression for regression;
"mlp" adds ReLU hidden layers.

State dicts are plain `dict[str, Tensor]` keyed like `torch.nn.Sequential` ("0.weight", ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import Literal, TypeGuard, get_args

import torch
from torch import Tensor, nn

from fl.data import TASKS, Task
from fl.errors import ModelSpecError, ModelStateError

__all__ = [
    "MODEL_KINDS",
    "ModelKind",
    "ModelSpec",
    "build_model",
    "initial_state",
    "load_state",
    "state_of",
]

ModelKind = Literal["linear", "mlp"]
MODEL_KINDS: tuple[ModelKind, ...] = get_args(ModelKind)
_SPEC_FORMAT = "consentfl.model-spec/1"


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelSpec:
    """An architecture: kind, task, input width, output width and hidden layer widths."""

    kind: ModelKind
    task: Task
    n_features: int
    n_outputs: int = 1
    hidden: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in MODEL_KINDS:
            raise ModelSpecError(f"kind must be one of {MODEL_KINDS}, got {self.kind!r}")
        if self.task not in TASKS:
            raise ModelSpecError(f"task must be one of {TASKS}, got {self.task!r}")
        if not _positive_int(self.n_features):
            raise ModelSpecError(f"n_features must be a positive integer, got {self.n_features!r}")
        if self.task == "multiclass":
            if not (_positive_int(self.n_outputs) and self.n_outputs >= 3):
                raise ModelSpecError(
                    f"a multiclass model needs n_outputs = classes >= 3, got {self.n_outputs!r}"
                )
        elif self.n_outputs != 1:
            raise ModelSpecError(f"a {self.task} model has n_outputs=1, got {self.n_outputs!r}")
        if not isinstance(self.hidden, tuple) or not all(_positive_int(h) for h in self.hidden):
            raise ModelSpecError(
                f"hidden must be a tuple of positive integers, got {self.hidden!r}"
            )
        if self.kind == "linear" and self.hidden:
            raise ModelSpecError("a linear model has no hidden layers")
        if self.kind == "mlp" and not self.hidden:
            raise ModelSpecError("an mlp needs at least one hidden layer")

    @classmethod
    def linear(cls, n_features: int, task: Task, n_outputs: int = 1) -> ModelSpec:
        """Logistic (multinomial for multiclass) or linear regression."""
        return cls(kind="linear", task=task, n_features=n_features, n_outputs=n_outputs)

    @classmethod
    def mlp(
        cls, n_features: int, task: Task, hidden: tuple[int, ...] = (64, 32), n_outputs: int = 1
    ) -> ModelSpec:
        """A ReLU multi-layer perceptron with the given hidden widths."""
        return cls(kind="mlp", task=task, n_features=n_features, hidden=hidden, n_outputs=n_outputs)

    def to_json_dict(self) -> dict[str, object]:
        """A JSON-ready dict; `from_json_dict` rebuilds an equal spec."""
        return {
            "format": _SPEC_FORMAT,
            "kind": self.kind,
            "task": self.task,
            "n_features": self.n_features,
            "n_outputs": self.n_outputs,
            "hidden": list(self.hidden),
        }

    @classmethod
    def from_json_dict(cls, data: Mapping[str, object]) -> ModelSpec:
        """The spec a `to_json_dict` dict describes; `ModelSpecError` on anything malformed."""
        if data.get("format") != _SPEC_FORMAT:
            raise ModelSpecError(f"unsupported model spec format {data.get('format')!r}")
        kind, task, hidden = data.get("kind"), data.get("task"), data.get("hidden", [])
        n_features, n_outputs = data.get("n_features"), data.get("n_outputs", 1)
        if kind not in MODEL_KINDS or task not in TASKS:
            raise ModelSpecError(f"unknown kind {kind!r} or task {task!r}")
        if not isinstance(hidden, list) or not all(_positive_int(h) for h in hidden):
            raise ModelSpecError(f"hidden must be a list of positive integers, got {hidden!r}")
        if not _positive_int(n_features) or not _positive_int(n_outputs):
            raise ModelSpecError("n_features and n_outputs must be positive integers")
        return cls(
            kind=kind,
            task=task,
            n_features=n_features,
            n_outputs=n_outputs,
            hidden=tuple(hidden),
        )


def _positive_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def build_model(spec: ModelSpec, *, seed: int) -> nn.Module:
    """A freshly initialised model for `spec`; the same seed gives identical weights.

    Initialisation draws from a forked RNG, so the caller's global torch RNG is untouched.
    """
    widths = (spec.n_features, *spec.hidden)
    layers: list[nn.Module] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for n_in, n_out in pairwise(widths):
            layers += [nn.Linear(n_in, n_out), nn.ReLU()]
        layers.append(nn.Linear(widths[-1], spec.n_outputs))
    return nn.Sequential(*layers)


def state_of(model: nn.Module) -> dict[str, Tensor]:
    """A detached copy of the model's state dict (safe to keep while the model trains on)."""
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}


def initial_state(spec: ModelSpec, *, seed: int) -> dict[str, Tensor]:
    """The state dict of `build_model(spec, seed=seed)`: round 0's base model."""
    return state_of(build_model(spec, seed=seed))


def load_state(spec: ModelSpec, state: Mapping[str, Tensor]) -> nn.Module:
    """A model for `spec` holding a copy of `state`; `ModelStateError` if they do not fit."""
    model = build_model(spec, seed=0)
    expected = model.state_dict()
    if set(state) != set(expected):
        missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
        raise ModelStateError(f"state keys do not fit the model: missing {missing}, extra {extra}")
    for name, tensor in expected.items():
        given = state[name]
        if given.shape != tensor.shape or given.dtype != tensor.dtype:
            raise ModelStateError(
                f"tensor {name!r} is {given.dtype} {tuple(given.shape)}, "
                f"the model needs {tensor.dtype} {tuple(tensor.shape)}"
            )
    model.load_state_dict(dict(state), strict=True)
    return model
