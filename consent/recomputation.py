"""What an auditor's recomputation of a finalized round found (`fl.roles.recompute` computes it,
the `recompute` audit check in `chain.audit` judges it; both import it from here)."""

from __future__ import annotations

from dataclasses import dataclass

from consent.ids import Address

__all__ = ["Recomputation", "UnusableUpdate"]


@dataclass(frozen=True, slots=True)
class UnusableUpdate:
    """An update the auditor left out of the recomputation, and why."""

    hospital: Address
    reason: str
    opened: bool
    """False: the auditor's key did not open it (not sealed to the auditors, or not an update)."""


@dataclass(frozen=True, slots=True)
class Recomputation:
    """A round's model rebuilt from its updates exactly as the aggregator must have built it."""

    round: int
    model_hash: bytes
    """SHA-256 of the recomputed model's bytes (compare with the on-chain `modelHash`)."""
    kept: tuple[Address, ...]
    unusable: tuple[UnusableUpdate, ...]
    difference: str
    """Empty when the recomputed model is the published one; else which tensors differ."""
