from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fl.aggregate import apply_delta, state_delta, weighted_mean
from fl.errors import AggregationError, UnknownStrategyError
from fl.strategies import FedAvg, make_strategy
from fl.strategy import ClientUpdate, screen_updates


def state(*values: float) -> dict[str, torch.Tensor]:
    return {"w": torch.tensor(values, dtype=torch.float32), "b": torch.tensor([sum(values)])}


def test_weighted_mean_matches_hand_computation() -> None:
    result = weighted_mean([state(1.0, 2.0), state(3.0, 6.0)], [1.0, 3.0])

    # w: (1*1 + 3*3) / 4 = 2.5, (1*2 + 3*6) / 4 = 5; b: (1*3 + 3*9) / 4 = 7.5
    assert result["w"].tolist() == [2.5, 5.0]
    assert result["b"].tolist() == [7.5]


def test_zero_weight_update_does_not_contribute() -> None:
    result = weighted_mean([state(1.0), state(100.0)], [2, 0])

    assert result["w"].tolist() == [1.0]


def test_inputs_are_never_modified() -> None:
    deltas = [state(1.0, 2.0), state(3.0, 4.0)]
    base = state(5.0, 5.0)
    before = [{k: v.clone() for k, v in d.items()} for d in (*deltas, base)]

    apply_delta(base, weighted_mean(deltas, [1, 1]))
    state_delta(deltas[0], base)

    for original, copy in zip((*deltas, base), before, strict=True):
        assert all(torch.equal(original[k], copy[k]) for k in copy)


def test_apply_delta_of_state_delta_gives_back_the_trained_state() -> None:
    generator = torch.Generator().manual_seed(0)
    base = {"w": torch.randn(50, generator=generator)}
    trained = {"w": base["w"] + 0.01 * torch.randn(50, generator=generator)}

    rebuilt = apply_delta(base, state_delta(trained, base))

    assert torch.allclose(rebuilt["w"], trained["w"], rtol=0, atol=1e-6)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.lists(st.floats(-1e3, 1e3), min_size=3, max_size=3),
            st.floats(0.01, 100.0),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_weighted_mean_lies_within_the_updates(rows: list[tuple[list[float], float]]) -> None:
    deltas = [{"w": torch.tensor(v, dtype=torch.float64)} for v, _ in rows]
    stacked = torch.stack([d["w"] for d in deltas])

    mean = weighted_mean(deltas, [w for _, w in rows])["w"]

    assert bool((mean >= stacked.min(0).values - 1e-9).all())
    assert bool((mean <= stacked.max(0).values + 1e-9).all())


@pytest.mark.parametrize(
    ("deltas", "weights", "message"),
    [
        ([], [], "no updates"),
        ([state(1.0)], [1, 2], "1 updates but 2 weights"),
        ([state(1.0), state(2.0)], [1, -1], "weight 1"),
        ([state(1.0)], [math.nan], "weight 0"),
        ([state(1.0), state(2.0)], [0, 0], "all weights are zero"),
    ],
)
def test_unusable_weights_are_rejected(
    deltas: list[dict[str, torch.Tensor]], weights: list[float], message: str
) -> None:
    with pytest.raises(AggregationError, match=message):
        weighted_mean(deltas, weights)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"w": torch.zeros(1)}, "missing"),
        ({**state(1.0), "x": torch.zeros(1)}, "extra"),
        ({"w": torch.zeros(2), "b": torch.zeros(1)}, "expected"),
        ({"w": torch.zeros(1, dtype=torch.float64), "b": torch.zeros(1)}, "float64"),
        ({"w": torch.tensor([math.inf]), "b": torch.zeros(1)}, "non-finite"),
    ],
)
def test_mismatched_update_is_named_by_index(bad: dict[str, torch.Tensor], message: str) -> None:
    with pytest.raises(AggregationError, match=message) as info:
        weighted_mean([state(1.0), state(2.0), bad], [1, 1, 1])
    assert info.value.index == 2
    assert isinstance(info.value, ValueError)


def test_integer_tensors_cannot_be_averaged() -> None:
    ints = {"n": torch.tensor([1, 2])}

    with pytest.raises(AggregationError, match="not floating point"):
        weighted_mean([ints, ints], [1, 1])


def test_fedavg_of_identical_updates_applies_that_update() -> None:
    base, delta = state(1.0, 1.0), state(0.5, -0.25)
    updates = [ClientUpdate(f"h{i}", delta, n) for i, n in enumerate((10, 200, 3))]

    aggregation = FedAvg().aggregate(base, updates)
    new = aggregation.state

    assert new["w"].tolist() == [1.5, 0.75]
    assert new["b"].tolist() == [2.25]


def test_fedavg_weights_updates_by_sample_count() -> None:
    base = state(0.0)
    updates = [ClientUpdate("a", state(4.0), 30), ClientUpdate("b", state(-4.0), 10)]

    assert FedAvg().aggregate(base, updates).state["w"].tolist() == [2.0]
    assert FedAvg(server_lr=0.5).aggregate(base, updates).state["w"].tolist() == [1.0]


def test_fedavg_reports_every_update_kept_with_its_sample_share() -> None:
    base = state(0.0)
    updates = [ClientUpdate("a", state(4.0), 30), ClientUpdate("b", state(-4.0), 10)]

    decisions = FedAvg().aggregate(base, updates).decisions

    assert [(d.client_id, d.kept, d.weight, d.reason) for d in decisions] == [
        ("a", True, 0.75, ""),
        ("b", True, 0.25, ""),
    ]


@pytest.mark.parametrize("server_lr", [0.0, -1.0, math.inf])
def test_fedavg_rejects_bad_server_lr_at_construction(server_lr: float) -> None:
    with pytest.raises(AggregationError, match="server_lr"):
        FedAvg(server_lr=server_lr)


def test_fedavg_with_no_updates_fails() -> None:
    with pytest.raises(AggregationError, match="no updates"):
        FedAvg().aggregate(state(1.0), [])


def test_client_update_rejects_negative_sample_count() -> None:
    with pytest.raises(AggregationError, match="num_samples"):
        ClientUpdate("h", state(1.0), -1)


def test_registry_builds_strategies_by_name_and_rejects_unknown_names() -> None:
    strategy = make_strategy("fedavg", server_lr=0.5)

    assert isinstance(strategy, FedAvg)
    assert strategy.config() == {"server_lr": 0.5}
    with pytest.raises(UnknownStrategyError, match="fedavg") as info:
        make_strategy("geometric-median")
    assert info.value.name == "geometric-median"


def test_registry_rejects_options_the_strategy_does_not_take() -> None:
    with pytest.raises(AggregationError, match="bad options for strategy 'fedavg'"):
        make_strategy("fedavg", trim=0.1)


def test_fedavg_names_the_update_that_does_not_fit_the_base() -> None:
    base = state(0.0, 0.0)
    updates = [ClientUpdate("a", state(1.0, 1.0), 5), ClientUpdate("b", state(1.0), 5)]

    with pytest.raises(AggregationError, match="update 1") as info:
        FedAvg().aggregate(base, updates)
    assert info.value.index == 1


def test_screening_returns_rejected_updates_with_reasons() -> None:
    base = state(0.0, 0.0)
    good = ClientUpdate("good", state(1.0, 1.0), 5)
    misshaped = ClientUpdate("misshaped", state(1.0), 5)
    poisoned = ClientUpdate(
        "poisoned", {"w": torch.tensor([math.nan, 0.0]), "b": torch.zeros(1)}, 5
    )
    empty = ClientUpdate("empty", state(1.0, 1.0), 0)

    accepted, rejected = screen_updates(base, [misshaped, good, poisoned, empty])

    assert accepted == [good]
    assert [(r.update.client_id, r.error.index) for r in rejected] == [
        ("misshaped", 0), ("poisoned", 2), ("empty", 3)
    ]  # fmt: skip
    assert "non-finite" in str(rejected[1].error)
