"""`consentfl demo --mode dp` (and dp+secagg): the study's DP terms, the epsilon each hospital
spent, and what the revoked patients' consent status says was spent on their hospital's data.

The demo asks for a target epsilon; the noise multiplier is the smallest under which the demo's
rounds fit that budget in the contract's own arithmetic (`fl.privacy.calibrate_noise`), so the
study runs all its rounds and the last one leaves every hospital just within its budget.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import httpx

from chain.deploy import Ledger
from consent.ids import Address, StudyId
from consent.privacy import DpTerms, from_fixed
from fl.train import LocalTrainingConfig

__all__ = [
    "DP_DELTA",
    "DP_SAMPLE_RATE",
    "dp_terms",
    "dp_training",
    "epsilon_spent",
    "patients_epsilon",
]

DP_DELTA: Final = 1e-5
DP_SAMPLE_RATE: Final = 0.1
"""Poisson sampling rate: about a tenth of a hospital's rows per step."""


def dp_training(epochs: int, seed: int) -> LocalTrainingConfig:
    """DP-SGD's local configuration: plain SGD (no momentum), a larger step than non-private
    training, since each step's gradient is an average of clipped per-sample gradients."""
    return LocalTrainingConfig(epochs=epochs, batch_size=32, lr=0.5, seed=seed)


def dp_terms(epsilon: float, rounds: int, epochs: int) -> DpTerms:
    """Record-level DP at (`epsilon`, 1e-5): `epochs` passes of Poisson batches per round."""
    from fl.privacy import calibrate_noise  # opacus (the extra `dp`) loads only in dp mode

    steps = epochs * round(1 / DP_SAMPLE_RATE)
    draft = DpTerms(
        epsilon=epsilon,
        delta=DP_DELTA,
        noise_multiplier=1.0,
        max_grad_norm=1.0,
        sample_rate=DP_SAMPLE_RATE,
        steps_per_round=steps,
    )
    return calibrate_noise(draft, rounds)


def epsilon_spent(ledger: Ledger, study: StudyId, hospitals: list[Address]) -> dict[str, float]:
    """hospital-<k> -> the epsilon its on-chain ledger says it spent (empty if not dp mode)."""
    if ledger.budget is None:
        return {}
    record = ledger.budget.record(study)
    if record is None:
        return {}
    spent: dict[str, float] = {}
    for k, hospital in enumerate(hospitals, start=1):
        values = ledger.budget.spent(study, hospital) or (0,) * len(record.caps)
        spent[f"hospital-{k}"] = record.terms.epsilon_of([from_fixed(v) for v in values])
    return spent


def patients_epsilon(
    client: httpx.Client, study: StudyId, patients: Iterable[Address]
) -> dict[str, float]:
    """patient -> the epsilon spent on their hospital's data, as their consent status over the
    HTTP API (`GET .../consent`, its `privacy` section) tells them; empty outside a dp study."""
    found: dict[str, float] = {}
    for patient in patients:
        response = client.get(f"/v1/studies/0x{bytes(study).hex()}/patients/{patient}/consent")
        response.raise_for_status()
        section = response.json().get("privacy")
        if section is not None:
            found[patient] = float(section["epsilon_spent"])
    return found
