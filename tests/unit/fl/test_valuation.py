"""Contribution values: the Shapley properties the issue asks for, on real updates of breast
cancer hospitals, the approximations against exact Shapley, and validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fl.attacks import flip_labels
from fl.errors import AggregationError
from fl.models import ModelSpec, initial_state
from fl.split import Split, split_dataset
from fl.strategy import ClientUpdate
from fl.train import LocalTrainingConfig, train_local
from fl.valuation import CoalitionGame, make_valuation, validation_utility, value_round

CONFIG = LocalTrainingConfig(epochs=1, batch_size=16, lr=0.05, seed=3)


@pytest.fixture(scope="module")
def split() -> Split:
    return split_dataset("breast-cancer", 6, seed=0)


@pytest.fixture(scope="module")
def spec(split: Split) -> ModelSpec:
    return ModelSpec.linear(len(split.feature_names), "classification")


def honest_round(split: Split, spec: ModelSpec, k: int = 5) -> list[ClientUpdate]:
    base = initial_state(spec, seed=0)
    return [
        ClientUpdate(
            f"h{i}",
            train_local(spec, base, split.hospitals[i], CONFIG).delta,
            len(split.hospitals[i]),
        )
        for i in range(k)
    ]


def values(
    method: str, split: Split, spec: ModelSpec, updates: list[ClientUpdate], **options: object
):  # type: ignore[no-untyped-def]
    utility = validation_utility(spec, split.test, "loss")
    return value_round(
        make_valuation(method, **options), initial_state(spec, seed=0), updates, utility
    )


@pytest.mark.parametrize("method", ["exact", "gtg", "tmc"])
def test_a_duplicated_hospital_gets_about_the_same_value(
    method: str, split: Split, spec: ModelSpec
) -> None:
    updates = honest_round(split, spec, 4)
    twin = ClientUpdate("twin", updates[1].delta, updates[1].num_samples)

    # TMC samples permutations uniformly: who comes first (and takes most of the gain) varies a
    # lot, so it needs many walks; at 5 hospitals they only re-read 32 cached coalitions
    options = {"permutations": 20_000} if method == "tmc" else {}
    result = values(method, split, spec, [*updates, twin], **options).as_dict()

    assert result["h1"] == pytest.approx(result["twin"], rel=0.05)


@pytest.mark.parametrize("method", ["exact", "gtg", "tmc"])
def test_a_null_hospital_gets_about_zero(method: str, split: Split, spec: ModelSpec) -> None:
    updates = honest_round(split, spec, 4)
    # a hospital that learned nothing (zero delta) from one row among hundreds: alone it leaves
    # the base as it is, beside others its weight barely dilutes them
    null = ClientUpdate("null", {k: torch.zeros_like(v) for k, v in updates[0].delta.items()}, 1)

    result = values(method, split, spec, [*updates, null])

    assert abs(result.as_dict()["null"]) < 0.01 * abs(result.gain)
    assert min(abs(v) for p, v in result.as_dict().items() if p != "null") > 0.05 * abs(result.gain)


def test_exact_values_sum_to_the_round_gain(split: Split, spec: ModelSpec) -> None:
    result = values("exact", split, spec, honest_round(split, spec, 6))

    assert result.gain > 0
    assert sum(result.values) == pytest.approx(result.gain, abs=1e-9)
    assert result.evaluations == 2**6


@pytest.mark.parametrize("method", ["gtg", "tmc"])
def test_permutation_values_sum_to_the_gain_up_to_truncation(
    method: str, split: Split, spec: ModelSpec
) -> None:
    result = values(method, split, spec, honest_round(split, spec, 6), tolerance=0.01)

    assert sum(result.values) == pytest.approx(result.gain, rel=0.01)


@pytest.mark.parametrize("method", ["exact", "gtg", "tmc", "loo"])
def test_a_label_flipping_hospital_gets_at_most_zero(
    method: str, split: Split, spec: ModelSpec
) -> None:
    updates = honest_round(split, spec, 5)
    base = initial_state(spec, seed=0)
    flipped = flip_labels(split.hospitals[5])
    attacker = ClientUpdate("flipper", train_local(spec, base, flipped, CONFIG).delta, len(flipped))

    result = values(method, split, spec, [*updates, attacker]).as_dict()

    assert result["flipper"] <= 0
    assert all(result[f"h{i}"] > 0 for i in range(5))


def test_values_react_to_consent_a_hospital_whose_patients_revoke_is_worth_less(
    split: Split, spec: ModelSpec
) -> None:
    base = initial_state(spec, seed=0)
    updates = honest_round(split, spec, 5)
    before = values("exact", split, spec, updates).as_dict()["h2"]
    # 80% of h2's patients revoke: it trains on the rows left, as its trainer would
    rows = split.hospitals[2]
    keep = np.arange(len(rows)) % 5 == 0
    remaining = rows.select(keep)
    updates[2] = ClientUpdate(
        "h2", train_local(spec, base, remaining, CONFIG).delta, len(remaining)
    )

    after = values("exact", split, spec, updates).as_dict()["h2"]

    assert after < 0.5 * before


def spearman(a: list[float], b: list[float]) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


@pytest.mark.parametrize("method", ["gtg", "tmc"])
def test_approximations_rank_like_exact_shapley(method: str, split: Split, spec: ModelSpec) -> None:
    # values spread apart (IID hospitals of equal size are worth about the same, and ranking
    # near-ties is noise): hospitals of 10 to 160 rows, and one with flipped labels
    base = initial_state(spec, seed=0)
    updates = []
    for i, size in enumerate([10, 20, 40, 80, 160]):
        rows = split.hospitals[i].select(np.arange(len(split.hospitals[i])) < size)
        updates.append(ClientUpdate(f"h{i}", train_local(spec, base, rows, CONFIG).delta, size))
    flipped = flip_labels(split.hospitals[5])
    updates.append(ClientUpdate("flipper", train_local(spec, base, flipped, CONFIG).delta, 80))
    exact = values("exact", split, spec, updates)

    # (their accuracy at a budget of evaluations is measured in bench/bench_robust.py)
    approx = values(method, split, spec, updates, permutations=500)

    assert spearman(list(approx.values), list(exact.values)) >= 0.9


@pytest.mark.parametrize("method", ["gtg", "tmc"])
def test_the_evaluation_budget_is_kept(method: str, split: Split, spec: ModelSpec) -> None:
    result = values(method, split, spec, honest_round(split, spec, 6), max_evaluations=13)

    assert result.evaluations <= 13


def test_exact_shapley_refuses_more_than_eight_hospitals(split: Split, spec: ModelSpec) -> None:
    updates = honest_round(split, spec, 3)
    many = [ClientUpdate(f"c{i}", updates[i % 3].delta, 10) for i in range(9)]
    with pytest.raises(AggregationError, match="at most 8"):
        values("exact", split, spec, many)


@pytest.mark.parametrize(
    ("method", "options"),
    [("nope", {}), ("gtg", {"permutations": 0}), ("tmc", {"tolerance": -1}),
     ("tmc", {"seed": -2}), ("gtg", {"max_evaluations": 1.5}), ("exact", {"depth": 2})],
)  # fmt: skip
def test_bad_valuation_configuration_is_refused(method: str, options: dict[str, object]) -> None:
    with pytest.raises(AggregationError):
        make_valuation(method, **options)


def test_the_game_reconstructs_fedavg_of_the_coalition(split: Split, spec: ModelSpec) -> None:
    updates = honest_round(split, spec, 3)
    base = initial_state(spec, seed=0)
    game = CoalitionGame(base, updates, lambda state: 0.0)

    state = game.state(frozenset({0, 2}))

    n0, n2 = updates[0].num_samples, updates[2].num_samples
    for key in base:
        expected = base[key] + (n0 * updates[0].delta[key] + n2 * updates[2].delta[key]) / (n0 + n2)
        torch.testing.assert_close(state[key], expected, rtol=0, atol=1e-6)
    assert game.state(frozenset()) == base or all(
        torch.equal(game.state(frozenset())[k], base[k]) for k in base
    )
