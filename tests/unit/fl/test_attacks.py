"""Attack simulation: the maths against ByzFL's attacks, the opt-in, and a malicious hospital
going through the real trainer role (over the in-memory fakes)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from fl.attacks import (
    Attack,
    AttackKind,
    alie,
    flip_labels,
    gaussian_noise,
    ipm,
    malicious_train_fn,
    scaled,
)
from fl.errors import FlError
from fl.models import ModelSpec, initial_state
from fl.train import LocalTrainingConfig, train_local
from tests.unit.fl.byzfl_reference import byzfl_attacks
from tests.unit.fl.roles.conftest import dataset_for


def honest(n: int, seed: int) -> list[dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    return [{"w": torch.randn(7, generator=generator, dtype=torch.float64)} for _ in range(n)]


def matrix(updates: list[dict[str, torch.Tensor]]) -> np.ndarray:
    return np.stack([u["w"].numpy() for u in updates])


@pytest.mark.parametrize("seed", range(5))
def test_alie_matches_byzfl(seed: int) -> None:
    updates = honest(6, seed)
    # ByzFL adds tau * std; Baruch et al.'s mean - z * std is ByzFL's tau = -z
    expected = byzfl_attacks().ALittleIsEnough(tau=-1.5)(matrix(updates))
    np.testing.assert_allclose(alie(updates, 1.5)["w"].numpy(), expected, atol=1e-6)


@pytest.mark.parametrize("seed", range(5))
def test_ipm_matches_byzfl(seed: int) -> None:
    updates = honest(6, seed)
    expected = byzfl_attacks().InnerProductManipulation(tau=0.5)(matrix(updates))
    np.testing.assert_allclose(ipm(updates, 0.5)["w"].numpy(), expected, atol=1e-6)


def test_sign_flip_matches_byzfl_on_one_update() -> None:
    update = honest(1, 3)
    expected = byzfl_attacks().SignFlipping()(matrix(update))
    np.testing.assert_allclose(scaled(update[0], -1.0)["w"].numpy(), expected, atol=1e-12)


def test_gaussian_noise_replaces_the_update_with_seeded_noise_of_its_shape() -> None:
    update = {"w": torch.ones(20_000, dtype=torch.float64)}
    noise = gaussian_noise(update, 2.0, seed=1)

    assert noise["w"].shape == update["w"].shape
    assert float(noise["w"].mean()) == pytest.approx(0.0, abs=0.05)
    assert float(noise["w"].std()) == pytest.approx(2.0, rel=0.03)
    assert torch.equal(noise["w"], gaussian_noise(update, 2.0, seed=1)["w"])


@dataclass(frozen=True)
class Rows:
    features: torch.Tensor
    labels: torch.Tensor


def test_label_flip_flips_binary_and_multiclass_labels() -> None:
    data = dataset_for(0)
    assert torch.equal(flip_labels(data).labels, 1 - data.labels)
    assert torch.equal(flip_labels(data).features, data.features)
    digits = Rows(torch.zeros(4, 2), torch.tensor([0.0, 3.0, 9.0, 5.0]))
    assert flip_labels(digits, 10).labels.tolist() == [9.0, 6.0, 0.0, 4.0]


@pytest.mark.parametrize("kind", list(AttackKind))
def test_every_attack_changes_the_honest_update(kind: AttackKind) -> None:
    data = dataset_for(0)
    spec = ModelSpec.linear(3, "classification")
    base = initial_state(spec, seed=0)
    config = LocalTrainingConfig(epochs=2, batch_size=4, lr=0.1, seed=1)
    clean = train_local(spec, base, data, config)

    poisoned = malicious_train_fn(Attack(kind))(spec, base, data, config)

    assert set(poisoned.delta) == set(clean.delta)
    assert poisoned.num_samples == clean.num_samples
    flat = torch.cat([poisoned.delta[k].reshape(-1) for k in sorted(clean.delta)])
    ref = torch.cat([clean.delta[k].reshape(-1) for k in sorted(clean.delta)])
    assert not torch.allclose(flat, ref)
    if kind in (AttackKind.SIGN_FLIP, AttackKind.IPM, AttackKind.LABEL_FLIP):
        assert float(flat @ ref) < 0  # points against the honest direction


@pytest.mark.parametrize("text", ["nope", "scaling:x", "scaling:-1", ""])
def test_malformed_attack_text_is_refused(text: str) -> None:
    with pytest.raises(FlError):
        Attack.parse(text)
