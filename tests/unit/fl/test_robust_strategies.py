"""The robust strategies: each checked against ByzFL or the paper's formula to 1e-6 on random
inputs, their decisions, validation, and that they never modify their inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fl.errors import AggregationError
from fl.robust import RobustStrategy, flatten
from fl.strategies import STRATEGIES, make_strategy
from fl.strategy import ClientUpdate
from tests.unit.fl.byzfl_reference import byzfl_aggregators

SHAPES = {"w": (3, 4), "b": (4,)}
SEEDS = range(8)


def base_state() -> dict[str, torch.Tensor]:
    return {k: torch.zeros(s, dtype=torch.float64) for k, s in SHAPES.items()}


def random_updates(n: int, seed: int, *, samples: int | None = None) -> list[ClientUpdate]:
    generator = torch.Generator().manual_seed(seed)
    return [
        ClientUpdate(
            f"h{i}",
            {
                k: torch.randn(s, generator=generator, dtype=torch.float64)
                for k, s in SHAPES.items()
            },
            samples if samples is not None else 5 + i,
        )
        for i in range(n)
    ]


def as_matrix(updates: list[ClientUpdate]) -> np.ndarray:
    return torch.stack([flatten(u.delta, list(SHAPES)) for u in updates]).numpy()


def judged(name: str, updates: list[ClientUpdate], **options: object) -> np.ndarray:
    strategy = make_strategy(name, **options)
    assert isinstance(strategy, RobustStrategy)
    root = updates[0].delta if strategy.needs_root else None
    return flatten(
        strategy.judge(base_state(), updates, root_delta=root).delta, list(SHAPES)
    ).numpy()


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n", [5, 6, 9])
def test_median_matches_byzfl(seed: int, n: int) -> None:
    updates = random_updates(n, seed)
    expected = byzfl_aggregators().Median()(as_matrix(updates))
    np.testing.assert_allclose(judged("median", updates), expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("n", "trim"), [(5, 1), (9, 2), (10, 3)])
def test_trimmed_mean_matches_byzfl(seed: int, n: int, trim: int) -> None:
    updates = random_updates(n, seed)
    expected = byzfl_aggregators().TrMean(f=trim)(as_matrix(updates))
    np.testing.assert_allclose(judged("trimmed-mean", updates, trim=trim), expected, atol=1e-6)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("n", "faulty"), [(7, 1), (10, 2), (10, 3)])
def test_krum_matches_byzfl(seed: int, n: int, faulty: int) -> None:
    # ByzFL scores over the n - f - 1 nearest neighbours, the paper (and this code) over n - f - 2:
    # ByzFL's Krum with f + 1 is the paper's Krum with f.
    updates = random_updates(n, seed)
    expected = byzfl_aggregators().Krum(f=faulty + 1)(as_matrix(updates))
    np.testing.assert_allclose(judged("krum", updates, faulty=faulty), expected, atol=1e-6)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("n", "faulty"), [(7, 1), (10, 2), (10, 3)])
def test_multi_krum_matches_byzfl(seed: int, n: int, faulty: int) -> None:
    # ByzFL's MultiKrum(f + 1) keeps the n - f - 1 best-scored updates (see the Krum test).
    updates = random_updates(n, seed)
    expected = byzfl_aggregators().MultiKrum(f=faulty + 1)(as_matrix(updates))
    got = judged("multi-krum", updates, faulty=faulty, keep=n - faulty - 1)
    np.testing.assert_allclose(got, expected, atol=1e-6)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("max_norm", [0.5, 2.0, 100.0])
def test_norm_bound_matches_byzfl_clipping_then_mean(seed: int, max_norm: float) -> None:
    updates = random_updates(6, seed, samples=10)  # equal samples: FedAvg is the plain mean
    ref = byzfl_aggregators()
    expected = ref.Average()(ref.Clipping(c=max_norm)(as_matrix(updates)))
    np.testing.assert_allclose(
        judged("norm-bound", updates, max_norm=max_norm), expected, atol=1e-6
    )


def _paper_krum_choice(vectors: list[np.ndarray], f: int) -> int:
    n = len(vectors)
    scores = []
    for i in range(n):
        dists = sorted(float(np.sum((vectors[i] - vectors[j]) ** 2)) for j in range(n) if j != i)
        scores.append(sum(dists[: max(1, n - f - 2)]))
    return int(np.argmin(scores))


def paper_bulyan(matrix: np.ndarray, f: int) -> np.ndarray:
    """El Mhamdi et al. 2018, Algorithm 1, written loop by loop."""
    remaining = [row for row in matrix]
    selection = []
    for _ in range(len(matrix) - 2 * f):
        selection.append(remaining.pop(_paper_krum_choice(remaining, f)))
    selected = np.array(selection)
    beta = len(selection) - 2 * f
    out = np.empty(matrix.shape[1])
    for k in range(matrix.shape[1]):
        column = selected[:, k]
        median = np.median(column)
        closest = sorted(column, key=lambda v: abs(v - median))[:beta]
        out[k] = np.mean(closest)
    return out


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("n", "faulty"), [(7, 1), (11, 2), (12, 2)])
def test_bulyan_matches_the_paper(seed: int, n: int, faulty: int) -> None:
    updates = random_updates(n, seed)
    expected = paper_bulyan(as_matrix(updates), faulty)
    np.testing.assert_allclose(judged("bulyan", updates, faulty=faulty), expected, atol=1e-6)


def paper_fltrust(matrix: np.ndarray, root: np.ndarray) -> np.ndarray:
    """Cao et al. 2021, Algorithm 1 lines 9-11."""
    trust = [max(0.0, float(g @ root / (np.linalg.norm(g) * np.linalg.norm(root)))) for g in matrix]
    scaled = [np.linalg.norm(root) / np.linalg.norm(g) * g for g in matrix]
    return sum(t * g for t, g in zip(trust, scaled, strict=True)) / sum(trust)


@pytest.mark.parametrize("seed", SEEDS)
def test_fltrust_matches_the_paper(seed: int) -> None:
    updates = random_updates(7, seed)
    root = random_updates(1, 1000 + seed)[0].delta
    strategy = make_strategy("fltrust")
    assert isinstance(strategy, RobustStrategy)
    got = flatten(strategy.judge(base_state(), updates, root_delta=root).delta, list(SHAPES))
    expected = paper_fltrust(as_matrix(updates), flatten(root, list(SHAPES)).numpy())
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-6)


ROBUST = [name for name, cls in STRATEGIES.items() if issubclass(cls, RobustStrategy)]


@pytest.mark.parametrize("name", ROBUST)
def test_weights_sum_to_one_and_follow_input_order(name: str) -> None:
    updates = random_updates(9, 3)
    strategy = make_strategy(name)
    assert isinstance(strategy, RobustStrategy)
    judgement = strategy.judge(base_state(), updates, root_delta=updates[1].delta)

    assert [d.client_id for d in judgement.decisions] == [u.client_id for u in updates]
    assert sum(d.weight for d in judgement.decisions) == pytest.approx(1.0)
    assert all(d.kept == (d.weight > 0) and d.reason for d in judgement.decisions)


@pytest.mark.parametrize("name", ROBUST)
def test_inputs_are_never_modified(name: str) -> None:
    updates = random_updates(9, 4)
    before = [{k: v.clone() for k, v in u.delta.items()} for u in updates]
    strategy = make_strategy(name)
    assert isinstance(strategy, RobustStrategy)
    base = base_state()

    new = strategy.aggregate(base, updates, root_delta=updates[0].delta).state

    assert all(
        torch.equal(u.delta[k], b[k]) for u, b in zip(updates, before, strict=True) for k in b
    )
    assert all(float(v.abs().sum()) == 0 for v in base.values())
    assert set(new) == set(base)


def outlier_round(seed: int) -> list[ClientUpdate]:
    """Seven honest updates near +1 and two attackers far out in the opposite direction."""
    generator = torch.Generator().manual_seed(seed)
    honest = [
        ClientUpdate(
            f"honest{i}",
            {
                k: 1 + 0.1 * torch.randn(s, generator=generator, dtype=torch.float64)
                for k, s in SHAPES.items()
            },
            10,
        )
        for i in range(7)
    ]
    attackers = [
        ClientUpdate(
            f"attacker{i}",
            {k: torch.full(s, -20.0, dtype=torch.float64) for k, s in SHAPES.items()},
            10,
        )
        for i in range(2)
    ]
    return [*honest[:3], attackers[0], *honest[3:], attackers[1]]


@pytest.mark.parametrize(
    ("name", "options"),
    [("median", {}), ("trimmed-mean", {"trim": 2}), ("krum", {"faulty": 2}),
     ("multi-krum", {"faulty": 2}), ("bulyan", {"faulty": 1}), ("fltrust", {})],
)  # fmt: skip
def test_far_out_attackers_are_rejected(name: str, options: dict[str, object]) -> None:
    updates = outlier_round(0)
    strategy = make_strategy(name, **options)
    assert isinstance(strategy, RobustStrategy)
    root = {k: torch.ones(s, dtype=torch.float64) for k, s in SHAPES.items()}

    judgement = strategy.judge(base_state(), updates, root_delta=root)

    attackers = [d for d in judgement.decisions if d.client_id.startswith("attacker")]
    assert [d.kept for d in attackers] == [False, False]
    assert float(flatten(judgement.delta, list(SHAPES)).min()) > 0.5


def test_norm_bound_down_weights_a_scaled_attacker_to_the_median_norm() -> None:
    updates = outlier_round(1)
    judgement = make_strategy("norm-bound").judge(base_state(), updates)  # type: ignore[attr-defined]

    attacker = next(d for d in judgement.decisions if d.client_id == "attacker0")
    assert attacker.reason.startswith("clipped")
    assert float(flatten(judgement.delta, list(SHAPES)).mean()) > 0


@pytest.mark.parametrize(
    ("name", "options", "n"),
    [("trimmed-mean", {"trim": 2}, 4), ("krum", {"faulty": 2}, 6), ("bulyan", {"faulty": 1}, 6),
     ("multi-krum", {"faulty": 1, "keep": 9}, 8)],
)  # fmt: skip
def test_too_few_updates_for_the_tolerated_faults_is_refused(
    name: str, options: dict[str, object], n: int
) -> None:
    strategy = make_strategy(name, **options)
    assert isinstance(strategy, RobustStrategy)
    with pytest.raises(AggregationError, match=r"needs|cannot keep"):
        strategy.judge(base_state(), random_updates(n, 0))


@pytest.mark.parametrize(
    ("name", "options"),
    [("trimmed-mean", {"trim": -1}), ("krum", {"faulty": 1.5}), ("bulyan", {"faulty": True}),
     ("norm-bound", {"max_norm": 0}), ("norm-bound", {"max_norm": float("nan")}),
     ("multi-krum", {"keep": 0}), ("median", {"faulty": 1})],
)  # fmt: skip
def test_bad_options_are_refused_at_construction(name: str, options: dict[str, object]) -> None:
    with pytest.raises(AggregationError):
        make_strategy(name, **options)


def test_fltrust_without_a_root_update_is_refused() -> None:
    with pytest.raises(AggregationError, match="root update"):
        make_strategy("fltrust").aggregate(base_state(), random_updates(5, 0))


def test_an_update_that_does_not_fit_the_base_is_refused_with_its_index() -> None:
    updates = random_updates(5, 0)
    bad = ClientUpdate("bad", {"w": torch.zeros(3, 4, dtype=torch.float64)}, 3)
    with pytest.raises(AggregationError) as caught:
        make_strategy("median").aggregate(base_state(), [*updates, bad])
    assert caught.value.index == 5


@pytest.mark.parametrize("name", ROBUST)
def test_the_strategy_report_is_exactly_the_judgement(name: str) -> None:
    updates = random_updates(9, 5)
    strategy = make_strategy(name)
    assert isinstance(strategy, RobustStrategy)

    judged = strategy.judge(base_state(), updates, root_delta=updates[0].delta)
    report = strategy.aggregate(base_state(), updates, root_delta=updates[0].delta)

    assert [(d.client_id, d.kept, d.weight) for d in report.decisions] == [
        (d.client_id, d.kept, d.weight) for d in judged.decisions
    ]
    assert all(
        r.reason.startswith(d.reason)
        for r, d in zip(report.decisions, judged.decisions, strict=True)
    )
    assert all(
        torch.equal(report.state[k], base_state()[k] + judged.delta[k]) for k in report.state
    )
