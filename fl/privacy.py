"""Privacy mode "dp" on the learner seam, through Opacus.

* `rdp_increment(terms)`: the RDP one round costs a hospital, per order, from Opacus' accountant
  (`opacus.accountants.analysis.rdp.compute_rdp`: the sampled Gaussian mechanism at
  `sample_rate`, `noise_multiplier`, `steps_per_round` steps). The trainer charges it on chain
  before it submits; the audit recomputes it from the on-chain terms.
* `dp_sgd(...)`: record-level DP-SGD with Opacus' own parts (`GradSampleModule` for per-sample
  gradients, `DPOptimizer` for per-sample clipping and Gaussian noise, `DPDataLoader` for
  Poisson sampling at exactly the declared rate) and an `RDPAccountant` hooked to the optimizer;
  it returns what the accountant recorded, so the charge is checked against the steps taken.
  (`PrivacyEngine.make_private` is not used because it derives the sampling rate from the data
  loader's length, 1 / ceil(n / batch), which depends on the hospital's row count; the study
  declares one rate for all.)
* `RecordDpLearner` / `ClientDpLearner`: a study's learner wrapped for record-level DP-SGD, or
  for client-level DP (clip each hospital's update to `max_grad_norm`; the aggregator adds
  Gaussian noise of std `noise_multiplier * max_grad_norm` to the sum and averages uniformly, as
  DP-FedAvg does: sample weights would make the sensitivity data-dependent).

The noise comes from a generator seeded by `noise_seed`: the trainer passes the round's seed
from its noise secret (`fl.determinism.noise_seed`), so an audit replay given that seed
reproduces the exact update; without one (a caller that needs no replay), by `secrets`. DP noise
a reader of the study plan could regenerate would protect nothing: the seed is secret.
"""

from __future__ import annotations

import math
import secrets
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import ClassVar

import torch
from opacus import GradSampleModule
from opacus.accountants import RDPAccountant
from opacus.accountants.analysis.rdp import compute_rdp
from opacus.data_loader import DPDataLoader
from opacus.optimizers import DPOptimizer
from torch import Tensor, nn
from torch.utils.data import TensorDataset

from consent.privacy import BudgetLedger, DpTerms, to_fixed_up
from fl.aggregate import state_delta
from fl.data import HospitalDataset
from fl.errors import DataError, FlError, NoTrainingDataError, TrainingConfigError
from fl.learner import Learner
from fl.models import ModelSpec, load_state, state_of
from fl.strategy import (
    Aggregation,
    ClientUpdate,
    RejectedUpdate,
    Strategy,
    UpdateDecision,
)
from fl.train import LocalResult, LocalTrainingConfig, loss_function

__all__ = [
    "AccountantMismatchError",
    "ClientDpLearner",
    "DpSgdResult",
    "RecordDpLearner",
    "calibrate_noise",
    "clip_update",
    "dp_sgd",
    "make_dp_learner",
    "rdp_increment",
    "rdp_increment_fixed",
    "rdp_of_history",
]


class AccountantMismatchError(FlError, RuntimeError):
    """Opacus' accountant recorded a different mechanism than the study declares."""


def rdp_increment(terms: DpTerms) -> tuple[float, ...]:
    """RDP per order of one round under `terms` (Opacus' analysis of the sampled Gaussian)."""
    if terms.level == "client":
        q, steps = terms.sample_rate, 1
    else:
        q, steps = terms.sample_rate, terms.steps_per_round
    values = compute_rdp(
        q=q, noise_multiplier=terms.noise_multiplier, steps=steps, orders=list(terms.orders)
    )
    return tuple(float(v) for v in values)


def rdp_increment_fixed(terms: DpTerms) -> tuple[int, ...]:
    """`rdp_increment` in the contract's fixed point, rounded up."""
    return tuple(to_fixed_up(v) for v in rdp_increment(terms))


def rdp_of_history(accountant: RDPAccountant, orders: Sequence[float]) -> tuple[float, ...]:
    """The RDP per order of everything `accountant` recorded (Opacus' own sum over its history)."""
    total = [0.0] * len(orders)
    for sigma, q, steps in accountant.history:
        step = compute_rdp(q=q, noise_multiplier=sigma, steps=steps, orders=list(orders))
        total = [t + float(v) for t, v in zip(total, step, strict=True)]
    return tuple(total)


@dataclass(frozen=True, slots=True)
class DpSgdResult:
    """What `dp_sgd` did: the mean loss over its steps and the accountant's record."""

    steps: int
    train_loss: float
    accountant: RDPAccountant


def dp_sgd(
    model: nn.Module,
    loss_fn: nn.Module,
    features: Tensor,
    labels: Tensor,
    terms: DpTerms,
    *,
    lr: float,
    noise_seed: int | None = None,
    sample_seed: int = 0,
) -> DpSgdResult:
    """Train `model` in place for `terms.steps_per_round` DP-SGD steps (SGD at `lr`).

    `loss_fn` must average over the batch (Opacus' `loss_reduction="mean"`). Raises
    `NoTrainingDataError` on no rows.
    """
    n = len(features)
    if n == 0:
        raise NoTrainingDataError("no rows to train on")
    sampler_rng = torch.Generator().manual_seed(sample_seed)
    noise_rng = torch.Generator().manual_seed(
        secrets.randbits(63) if noise_seed is None else noise_seed
    )
    private = GradSampleModule(model, loss_reduction="mean")
    optimizer = DPOptimizer(
        torch.optim.SGD(private.parameters(), lr=lr),
        noise_multiplier=terms.noise_multiplier,
        max_grad_norm=terms.max_grad_norm,
        expected_batch_size=max(1, round(terms.sample_rate * n)),
        loss_reduction="mean",
        generator=noise_rng,
    )
    accountant = RDPAccountant()
    optimizer.attach_step_hook(accountant.get_optimizer_hook_fn(sample_rate=terms.sample_rate))
    loader = DPDataLoader(
        TensorDataset(features, labels), sample_rate=terms.sample_rate, generator=sampler_rng
    )
    private.train()
    steps, total = 0, 0.0
    while steps < terms.steps_per_round:
        for batch_x, batch_y in loader:
            if steps == terms.steps_per_round:
                break
            optimizer.zero_grad(set_to_none=True)
            if len(batch_x):
                loss = loss_fn(private(batch_x).squeeze(-1), batch_y)
                with warnings.catch_warnings():  # Opacus' hooks on inputs that need no grad
                    warnings.filterwarnings("ignore", "Full backward hook", UserWarning)
                    loss.backward()
                total += float(loss.detach())
            else:  # an empty Poisson batch still takes a (noise-only) step, as Opacus does;
                # the backward of a zero sets zero-length per-sample gradients, which Opacus'
                # optimizer needs to clip nothing and add the noise
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", "Full backward hook", UserWarning)
                    (private(features[:0]).sum() * 0.0).backward()
            optimizer.step()
            steps += 1
    private.to_standard_module()  # removes Opacus' hooks from `model`
    return DpSgdResult(steps, total / steps, accountant)


def _check_accountant(terms: DpTerms, accountant: RDPAccountant) -> None:
    recorded = rdp_of_history(accountant, terms.orders)
    declared = rdp_increment(terms)
    if any(
        not math.isclose(r, d, rel_tol=1e-9, abs_tol=1e-9)
        for r, d in zip(recorded, declared, strict=True)
    ):
        raise AccountantMismatchError(
            f"Opacus' accountant recorded {accountant.history}, not the declared mechanism"
        )


class _DpSgdDelta(Learner):
    """A DP wrapper around the sgd-delta learner: screening and the update shape are its."""

    level: ClassVar[str]

    def __init__(self, inner: Learner, terms: DpTerms, *, noise_seed: int | None = None) -> None:
        if inner.name != "sgd-delta":
            raise TrainingConfigError(
                f"{self.level}-level DP needs the sgd-delta learner, not {inner.name}"
            )
        self.inner, self.terms, self._noise_seed = inner, terms, noise_seed

    def update_template(self, base: Mapping[str, Tensor]) -> Mapping[str, Tensor]:
        return self.inner.update_template(base)

    def screen(
        self, base: Mapping[str, Tensor], updates: Sequence[ClientUpdate]
    ) -> tuple[list[ClientUpdate], list[RejectedUpdate]]:
        return self.inner.screen(base, updates)


class RecordDpLearner(_DpSgdDelta):
    """Record-level DP-SGD as the local step of an SGD-delta learner."""

    name: ClassVar[str] = "dp-record"
    level: ClassVar[str] = "record"

    def local_step(
        self,
        spec: ModelSpec,
        base: Mapping[str, Tensor],
        dataset: HospitalDataset,
        config: LocalTrainingConfig,
    ) -> LocalResult:
        if len(dataset) == 0:
            raise NoTrainingDataError("no rows to train on")
        if dataset.features.shape[1] != spec.n_features or dataset.task != spec.task:
            raise DataError("the dataset does not fit the model")
        if config.optimizer != "sgd" or config.momentum or config.proximal_mu:
            raise TrainingConfigError("DP-SGD runs plain SGD: no momentum, adam or proximal term")
        model = load_state(spec, base)
        done = dp_sgd(
            model, loss_function(spec), dataset.features, dataset.labels, self.terms,
            lr=config.lr, noise_seed=self._noise_seed, sample_seed=config.seed,
        )  # fmt: skip
        _check_accountant(self.terms, done.accountant)
        return LocalResult(
            delta=state_delta(state_of(model), base),
            num_samples=len(dataset),
            train_loss=done.train_loss,
        )

    def combine(
        self, base: Mapping[str, Tensor], updates: Sequence[ClientUpdate], strategy: Strategy
    ) -> Aggregation:
        return self.inner.combine(base, updates, strategy)


def clip_update(delta: Mapping[str, Tensor], max_norm: float) -> dict[str, Tensor]:
    """`delta` scaled so its global L2 norm is at most `max_norm` (a new dict)."""
    norm = math.sqrt(sum(float(t.double().pow(2).sum()) for t in delta.values()))
    scale = min(1.0, max_norm / norm) if norm > 0 else 1.0
    return {k: t * scale for k, t in delta.items()}


class ClientDpLearner(_DpSgdDelta):
    """Client-level DP: the hospital clips its update, the aggregator noises the sum."""

    name: ClassVar[str] = "dp-client"
    level: ClassVar[str] = "client"

    def local_step(
        self,
        spec: ModelSpec,
        base: Mapping[str, Tensor],
        dataset: HospitalDataset,
        config: LocalTrainingConfig,
    ) -> LocalResult:
        result = self.inner.local_step(spec, base, dataset, config)
        clipped = clip_update(result.delta, self.terms.max_grad_norm)
        return LocalResult(clipped, result.num_samples, result.train_loss)

    def combine(
        self, base: Mapping[str, Tensor], updates: Sequence[ClientUpdate], strategy: Strategy
    ) -> Aggregation:
        """base + (sum of re-clipped deltas + N(0, (sigma C)^2)) / k; the strategy is not used
        (uniform weights bound each hospital's influence by C)."""
        if not updates:
            raise NoTrainingDataError("no updates to combine")
        seed = secrets.randbits(63) if self._noise_seed is None else self._noise_seed
        rng = torch.Generator().manual_seed(seed)
        std = self.terms.noise_multiplier * self.terms.max_grad_norm
        clipped = [clip_update(u.delta, self.terms.max_grad_norm) for u in updates]
        state: dict[str, Tensor] = {}
        for key, value in base.items():
            total = sum(c[key].double() for c in clipped)
            noise = torch.normal(0.0, std, size=value.shape, generator=rng, dtype=torch.float64)
            state[key] = (value.double() + (total + noise) / len(updates)).to(value.dtype)
        weight = 1.0 / len(updates)
        decisions = tuple(UpdateDecision(u.client_id, True, weight) for u in updates)
        return Aggregation(state, decisions)


def calibrate_noise(terms: DpTerms, rounds: int, *, tolerance: float = 1e-3) -> DpTerms:
    """`terms` with the smallest noise multiplier (to `tolerance`) under which `rounds` rounds fit
    the caps in the contract's own fixed-point arithmetic (bisection: RDP falls as sigma rises)."""
    if rounds < 1:
        raise TrainingConfigError(f"rounds must be >= 1, got {rounds}")

    def fits(sigma: float) -> bool:
        trial = replace(terms, noise_multiplier=sigma)
        ledger = BudgetLedger.fresh(trial.caps_fixed())
        return ledger.rounds_left(rdp_increment_fixed(trial)) >= rounds

    low, high = 0.05, 1.0
    while not fits(high):
        low, high = high, high * 2
        if high > 1e4:
            raise TrainingConfigError(f"no noise multiplier fits {rounds} rounds in the caps")
    while high - low > tolerance:
        middle = (low + high) / 2
        low, high = (low, middle) if fits(middle) else (middle, high)
    return replace(terms, noise_multiplier=high)


def make_dp_learner(inner: Learner, terms: DpTerms, *, noise_seed: int | None = None) -> Learner:
    """`inner` wrapped for `terms.level`; `noise_seed` seeds the record-level DP-SGD noise (the
    client level's noise is the aggregator's, drawn from `secrets`)."""
    if terms.level == "client":
        return ClientDpLearner(inner, terms)
    return RecordDpLearner(inner, terms, noise_seed=noise_seed)
