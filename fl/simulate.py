"""In-process federated simulation and the central baseline, for tests and benchmarks.

No chain, no store, no consent: just `train_local` on every hospital, a `Strategy`, and evaluation
on the split's held-out test set after every round. The real trainer and aggregator roles reuse
`train_local` and the strategies, not this loop.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace

from torch import Tensor

from fl.aggregate import apply_delta
from fl.errors import TrainingConfigError
from fl.models import ModelSpec, initial_state
from fl.split import Split
from fl.strategy import ClientUpdate, Strategy
from fl.train import LocalTrainingConfig, Metrics, evaluate, train_local

__all__ = [
    "CentralResult",
    "History",
    "RoundRecord",
    "client_seed",
    "run_federated",
    "train_central",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RoundRecord:
    """The outcome of one simulated round."""

    round: int
    train_loss: float
    """Sample-weighted mean of the hospitals' last-epoch training losses."""
    test: Metrics


@dataclass(frozen=True, slots=True, eq=False)
class History:
    """A simulated federation: metrics of the initial model, every round, and the final state."""

    initial: Metrics
    rounds: tuple[RoundRecord, ...]
    final_state: dict[str, Tensor]

    @property
    def final(self) -> Metrics:
        return self.rounds[-1].test if self.rounds else self.initial


@dataclass(frozen=True, slots=True, eq=False)
class CentralResult:
    """The central baseline: one model trained on every hospital's rows pooled together."""

    initial: Metrics
    final: Metrics
    train_loss: float
    final_state: dict[str, Tensor]


def client_seed(base_seed: int, round_number: int, client: int) -> int:
    """A distinct, reproducible shuffling seed per (round, hospital)."""
    return base_seed + 1_000_003 * round_number + 7_919 * client


def run_federated(
    split: Split,
    spec: ModelSpec,
    *,
    rounds: int,
    local_config: LocalTrainingConfig,
    strategy: Strategy,
    init_seed: int = 0,
    initial: Mapping[str, Tensor] | None = None,
) -> History:
    """`rounds` rounds of: every hospital trains from the global state, `strategy` aggregates.

    Starts from `initial` when given, else from `initial_state(spec, seed=init_seed)`.
    """
    if rounds < 0:
        raise TrainingConfigError(f"rounds must be >= 0, got {rounds}")
    state = dict(initial) if initial is not None else initial_state(spec, seed=init_seed)
    start = evaluate(spec, state, split.test)
    records: list[RoundRecord] = []
    for r in range(rounds):
        updates: list[ClientUpdate] = []
        weighted_loss = 0.0
        for k, hospital in enumerate(split.hospitals):
            config = replace(local_config, seed=client_seed(local_config.seed, r, k))
            result = train_local(spec, state, hospital, config)
            updates.append(ClientUpdate(f"hospital-{k + 1}", result.delta, result.num_samples))
            weighted_loss += result.train_loss * result.num_samples
        state = strategy.aggregate(state, updates).state
        total = sum(u.num_samples for u in updates)
        records.append(
            RoundRecord(
                round=r, train_loss=weighted_loss / total, test=evaluate(spec, state, split.test)
            )
        )
        logger.debug("simulated round %d of %d", r + 1, rounds)
    return History(initial=start, rounds=tuple(records), final_state=state)


def train_central(
    split: Split,
    spec: ModelSpec,
    *,
    epochs: int,
    config: LocalTrainingConfig,
    init_seed: int = 0,
) -> CentralResult:
    """Train on all hospitals' rows pooled, for `epochs` epochs with `config`'s optimizer settings.

    The comparison for a federation of R rounds x E local epochs is `epochs = R * E`. The proximal
    term is dropped (it anchors to a base model, which central training does not have).
    """
    state = initial_state(spec, seed=init_seed)
    pooled = split.train_union()
    result = train_local(spec, state, pooled, replace(config, epochs=epochs, proximal_mu=0.0))
    final = apply_delta(state, result.delta)
    return CentralResult(
        initial=evaluate(spec, state, split.test),
        final=evaluate(spec, final, split.test),
        train_loss=result.train_loss,
        final_state=final,
    )
