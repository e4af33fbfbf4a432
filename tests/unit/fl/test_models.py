from __future__ import annotations

import pytest
import torch

from fl.errors import ModelSpecError, ModelStateError
from fl.models import ModelSpec, build_model, initial_state, load_state


def test_same_seed_gives_identical_weights_and_another_seed_does_not() -> None:
    spec = ModelSpec.mlp(5, "classification", hidden=(4, 3))

    a, b, c = (initial_state(spec, seed=s) for s in (1, 1, 2))

    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_building_a_model_leaves_the_global_rng_untouched() -> None:
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)

    build_model(ModelSpec.mlp(4, "regression"), seed=9)

    assert torch.equal(torch.rand(3), expected)


def test_mlp_has_hidden_layers_and_one_output() -> None:
    model = build_model(ModelSpec.mlp(6, "classification", hidden=(5, 4)), seed=0)

    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}

    assert shapes == {
        "0.weight": (5, 6), "0.bias": (5,), "2.weight": (4, 5), "2.bias": (4,),
        "4.weight": (1, 4), "4.bias": (1,),
    }  # fmt: skip
    assert model(torch.zeros(7, 6)).shape == (7, 1)


def test_linear_model_is_one_affine_layer() -> None:
    state = initial_state(ModelSpec.linear(3, "regression"), seed=0)

    assert {k: tuple(v.shape) for k, v in state.items()} == {"0.weight": (1, 3), "0.bias": (1,)}


@pytest.mark.parametrize(
    "spec",
    [ModelSpec.linear(30, "classification"), ModelSpec.mlp(10, "regression", hidden=(8,))],
)
def test_spec_json_round_trip_is_equal(spec: ModelSpec) -> None:
    assert ModelSpec.from_json_dict(spec.to_json_dict()) == spec


@pytest.mark.parametrize(
    "change",
    [
        {"format": "other/1"},
        {"kind": "cnn"},
        {"task": "ranking"},
        {"n_features": 0},
        {"n_features": True},
        {"hidden": "64"},
        {"hidden": [64, -1]},
        {"n_outputs": 2},
    ],
)
def test_malformed_spec_json_is_rejected(change: dict[str, object]) -> None:
    data = {**ModelSpec.mlp(4, "classification").to_json_dict(), **change}

    with pytest.raises(ModelSpecError):
        ModelSpec.from_json_dict(data)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kind": "linear", "hidden": (4,)},
        {"kind": "mlp", "hidden": ()},
        {"kind": "mlp", "hidden": [4]},
        {"kind": "linear", "n_outputs": 2},
    ],
)
def test_inconsistent_spec_is_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(ModelSpecError):
        ModelSpec(task="classification", n_features=3, **kwargs)  # type: ignore[arg-type]


def test_load_state_copies_weights_into_a_new_model() -> None:
    spec = ModelSpec.linear(2, "regression")
    state = {"0.weight": torch.tensor([[1.0, 2.0]]), "0.bias": torch.tensor([3.0])}

    model = load_state(spec, state)
    with torch.no_grad():
        model.get_parameter("0.bias").add_(1.0)

    assert model(torch.tensor([[1.0, 1.0]])).item() == pytest.approx(7.0)
    assert state["0.bias"].item() == 3.0


def test_load_state_with_wrong_shape_or_keys_fails() -> None:
    spec = ModelSpec.linear(2, "regression")

    with pytest.raises(ModelStateError, match=r"0\.weight"):
        load_state(spec, {"0.weight": torch.zeros(1, 3), "0.bias": torch.zeros(1)})
    with pytest.raises(ModelStateError, match="missing"):
        load_state(spec, {"0.weight": torch.zeros(1, 2)})
