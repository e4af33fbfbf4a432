"""Poisoning attacks, for benchmarks and tests of the robust strategies ONLY.

A malicious hospital is simulated by wrapping the trainer's local step (`malicious_train_fn`), so
the attack goes through the real trainer role, chain and store like any update. The trainer
refuses an attack unless it is also given `allow_attacks=True`, which only the bench and tests
pass (and the CLI only with `CONSENTFL_ALLOW_ATTACKS=1` in the environment, see `api.cli`).

Kinds (the pure maths is cross-checked against ByzFL's attacks in the tests):

* `label-flip`: train on flipped labels (binary y -> 1 - y; `num_classes` C: y -> C - 1 - y).
* `sign-flip`: submit -strength * the honest delta.
* `scaling`: submit strength * the honest delta (model replacement).
* `gaussian`: submit N(0, strength^2) noise of the delta's shape instead of the delta.
* `alie` ("A Little Is Enough", Baruch et al. 2019): mean - strength * std, per coordinate.
* `ipm` (inner-product manipulation, Xie et al. 2020): -strength * mean.

ALIE and IPM need the honest updates' mean (and spread). `alie` / `ipm` take them as given (the
omniscient attacker the bench simulates in-process); through the trainer role, where updates are
sealed to the aggregator, the attacker estimates them from its own data: `bootstrap` honest
updates on resamples of its rows.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, TypeVar

import torch
from torch import Tensor

from fl.data import HospitalDataset
from fl.errors import FlError
from fl.models import ModelSpec
from fl.train import LocalResult, LocalTrainingConfig, train_local

__all__ = [
    "Attack",
    "AttackKind",
    "AttacksDisabledError",
    "alie",
    "armed_train_fn",
    "flip_labels",
    "gaussian_noise",
    "ipm",
    "malicious_train_fn",
    "scaled",
]

StateDict = Mapping[str, Tensor]
LocalStep = Callable[[ModelSpec, StateDict, HospitalDataset, LocalTrainingConfig], LocalResult]
D = TypeVar("D")
logger = logging.getLogger(__name__)


class AttacksDisabledError(FlError, PermissionError):
    """An attack was configured without the explicit opt-in (`allow_attacks`)."""


class AttackKind(StrEnum):
    LABEL_FLIP = "label-flip"
    SIGN_FLIP = "sign-flip"
    SCALING = "scaling"
    GAUSSIAN = "gaussian"
    ALIE = "alie"
    IPM = "ipm"


_DEFAULT_STRENGTH = {
    AttackKind.LABEL_FLIP: 1.0,
    AttackKind.SIGN_FLIP: 1.0,
    AttackKind.SCALING: 10.0,
    AttackKind.GAUSSIAN: 1.0,
    AttackKind.ALIE: 1.0,
    AttackKind.IPM: 0.5,
}


@dataclass(frozen=True, slots=True)
class Attack:
    """What a malicious hospital does; `strength` as in the module docstring (0 = kind default)."""

    kind: AttackKind
    strength: float = 0.0
    seed: int = 0
    num_classes: int = 2
    bootstrap: int = 5
    """Honest resampled updates the ALIE/IPM attacker trains to estimate mean and spread."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", AttackKind(self.kind))
        if not (math.isfinite(self.strength) and self.strength >= 0):
            raise FlError(f"attack strength must be >= 0, got {self.strength!r}")
        if self.num_classes < 2 or self.bootstrap < 2:
            raise FlError("num_classes and bootstrap must be >= 2")

    @property
    def effective_strength(self) -> float:
        return self.strength or _DEFAULT_STRENGTH[self.kind]

    @classmethod
    def parse(cls, text: str) -> Attack:
        """`kind` or `kind:strength`, e.g. `scaling:20`; `FlError` if malformed."""
        kind, _, strength = text.partition(":")
        try:
            return cls(AttackKind(kind), float(strength) if strength else 0.0)
        except ValueError as exc:
            known = ", ".join(k.value for k in AttackKind)
            raise FlError(f"bad attack {text!r} (kinds: {known}; kind:strength)") from exc


def flip_labels(dataset: D, num_classes: int = 2) -> D:
    """The same rows (a dataclass with a `labels` tensor, e.g. `HospitalDataset`) with labels
    y -> num_classes - 1 - y (binary: 1 - y)."""
    labels: Tensor = dataset.labels  # type: ignore[attr-defined]
    return replace(dataset, labels=(num_classes - 1) - labels)  # type: ignore[type-var]


def scaled(delta: StateDict, factor: float) -> dict[str, Tensor]:
    """factor * delta (sign flipping is factor -strength, scaling factor +strength)."""
    return {k: v * factor for k, v in delta.items()}


def gaussian_noise(delta: StateDict, std: float, seed: int) -> dict[str, Tensor]:
    """N(0, std^2) noise shaped like `delta` (seeded), replacing it."""
    generator = torch.Generator().manual_seed(seed)
    return {
        k: torch.randn(v.shape, generator=generator, dtype=v.dtype) * std for k, v in delta.items()
    }


def _stack(honest: Sequence[StateDict], key: str) -> Tensor:
    return torch.stack([h[key].to(torch.float64) for h in honest])


def alie(honest: Sequence[StateDict], z: float) -> dict[str, Tensor]:
    """mean - z * std over `honest`, per coordinate (std with Bessel's correction, like ByzFL)."""
    if len(honest) < 2:
        raise FlError("alie needs at least two honest updates")
    out = {}
    for key, ref in honest[0].items():
        values = _stack(honest, key)
        out[key] = (values.mean(0) - z * values.std(0, correction=1)).to(ref.dtype)
    return out


def ipm(honest: Sequence[StateDict], epsilon: float) -> dict[str, Tensor]:
    """-epsilon * the mean of `honest`."""
    if not honest:
        raise FlError("ipm needs at least one honest update")
    return {k: (-epsilon * _stack(honest, k).mean(0)).to(r.dtype) for k, r in honest[0].items()}


def _bootstrap(
    train: LocalStep, attack: Attack, args: tuple[ModelSpec, StateDict, HospitalDataset, Any]
) -> list[dict[str, Tensor]]:
    spec, base, dataset, config = args
    generator = torch.Generator().manual_seed(attack.seed + config.seed)
    n = len(dataset)
    updates = []
    for _ in range(attack.bootstrap):
        rows = torch.randint(0, n, (n,), generator=generator).numpy()
        mask = torch.zeros(n, dtype=torch.bool)
        mask[rows] = True
        updates.append(train(spec, base, dataset.select(mask.numpy()), config).delta)
    return updates


def malicious_train_fn(attack: Attack, train: LocalStep = train_local) -> LocalStep:
    """A local step that runs `train` and poisons its result (or its data) as `attack` says."""
    strength = attack.effective_strength

    def poisoned(
        spec: ModelSpec, base: StateDict, dataset: HospitalDataset, config: LocalTrainingConfig
    ) -> LocalResult:
        if attack.kind == AttackKind.LABEL_FLIP:
            return train(spec, base, flip_labels(dataset, attack.num_classes), config)
        honest = train(spec, base, dataset, config)
        if attack.kind == AttackKind.SIGN_FLIP:
            delta = scaled(honest.delta, -strength)
        elif attack.kind == AttackKind.SCALING:
            delta = scaled(honest.delta, strength)
        elif attack.kind == AttackKind.GAUSSIAN:
            delta = gaussian_noise(honest.delta, strength, attack.seed + config.seed)
        else:
            estimates = _bootstrap(train, attack, (spec, base, dataset, config))
            delta = (
                alie(estimates, strength)
                if attack.kind == AttackKind.ALIE
                else ipm(estimates, strength)
            )
        return replace(honest, delta=delta)

    return poisoned


def armed_train_fn(attack: Attack | None, train: LocalStep, *, allowed: bool) -> LocalStep:
    """`train` itself without an attack; poisoned by `attack` only when `allowed` (the explicit
    opt-in), else `AttacksDisabledError`: no production path can turn a hospital malicious."""
    if attack is None:
        return train
    if not allowed:
        raise AttacksDisabledError(
            f"attack {attack.kind} refused: attacks are for benchmarks and tests and must be "
            "enabled explicitly"
        )
    logger.warning("SIMULATED ATTACK: this trainer submits %s updates", attack.kind)
    return malicious_train_fn(attack, train)
