"""Differential-privacy budget arithmetic: the study's DP terms, the per-order caps, and a
hospital's ledger of Rényi-DP spent, in the fixed point the `PrivacyBudget` contract stores.

Pure maths, no torch: the RDP increments themselves come from an accountant (Opacus' in
`fl.privacy`); here they are only added and compared, exactly as the contract does.

Rényi DP at order alpha composes by addition, and a cumulative RDP value `r` at order alpha gives
(epsilon, delta)-DP with epsilon = r + log(1/delta) / (alpha - 1) (Mironov 2017, Prop. 3). So a
hospital stays within (epsilon, delta) while at least one order keeps `r_alpha <= cap_alpha` with
cap_alpha = epsilon - log(1/delta) / (alpha - 1). Opacus' own conversion
(`get_privacy_spent`, Balle et al. 2020) is slightly tighter; the caps use Mironov's because it
is the one the study declares and it is never optimistic.

Fixed point: every real is stored as an integer number of `1 / SCALE`. Caps round DOWN and
increments round UP, so rounding can only make the contract stricter than the real arithmetic.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, get_args

from consent.errors import ConsentError
from consent.ids import Address

__all__ = [
    "DEFAULT_ORDERS",
    "DP_EXTENSION",
    "SCALE",
    "BudgetExhaustedError",
    "BudgetLedger",
    "BudgetRecord",
    "BudgetSnapshot",
    "DpLevel",
    "DpTerms",
    "DpTermsError",
    "from_fixed",
    "to_fixed_down",
    "to_fixed_up",
]

SCALE: Final = 10**12
"""Fixed-point denominator: 1e-12 resolution, far below the audit's 1e-6 tolerance."""

DP_EXTENSION: Final = "dp"
"""Where plans written before the single privacy-mode field kept their DP terms (read as mode
"dp" by `consent.formats.privacy.PrivacySpec.from_extensions`; now in `extensions.privacy.dp`)."""

DEFAULT_ORDERS: Final[tuple[float, ...]] = (
    1.5, 1.75, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0, 16.0, 20.0, 32.0, 64.0,
)  # fmt: skip
"""RDP orders tracked by default: 15 of Opacus' 151, covering the orders that are optimal for
epsilon between about 0.5 and 30 (fewer orders keep the on-chain ledger cheap)."""

DpLevel = Literal["record", "client"]
DP_LEVELS: Final[tuple[DpLevel, ...]] = get_args(DpLevel)


class DpTermsError(ConsentError, ValueError):
    """DP terms that do not describe a valid mechanism or budget."""


class BudgetExhaustedError(ConsentError, RuntimeError):
    """A hospital's next round would leave no RDP order under its cap.

    Raised by the trainer before it trains, and (as `chain.budget_errors.BudgetExhaustedError`,
    a subclass) when the `PrivacyBudget` contract refuses a charge.
    """


def to_fixed_down(value: float) -> int:
    """`value` in fixed point, rounded toward minus infinity (for caps)."""
    return math.floor(value * SCALE)


def to_fixed_up(value: float) -> int:
    """`value` in fixed point, rounded toward plus infinity (for spent privacy)."""
    return math.ceil(value * SCALE)


def from_fixed(value: int) -> float:
    """The real a fixed-point integer stands for."""
    return value / SCALE


@dataclass(frozen=True, slots=True, kw_only=True)
class DpTerms:
    """What a dp-mode study declares: the target (epsilon, delta) and the mechanism.

    `level="record"`: each hospital runs DP-SGD (per-sample clipping at `max_grad_norm`, Gaussian
    noise of std `noise_multiplier * max_grad_norm`, Poisson sampling at `sample_rate`) for
    `steps_per_round` steps per round. `level="client"`: each hospital clips its whole update to
    `max_grad_norm` and the aggregator adds Gaussian noise of std
    `noise_multiplier * max_grad_norm` to the sum (one step per round, `sample_rate` the fraction
    of hospitals taking part, 1.0 when all do).
    """

    epsilon: float
    delta: float
    noise_multiplier: float
    max_grad_norm: float
    sample_rate: float
    steps_per_round: int
    orders: tuple[float, ...] = DEFAULT_ORDERS
    level: DpLevel = "record"
    extensions: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.epsilon) and self.epsilon > 0):
            raise DpTermsError(f"epsilon must be finite and > 0, got {self.epsilon!r}")
        if not 0 < self.delta < 1:
            raise DpTermsError(f"delta must be in (0, 1), got {self.delta!r}")
        if not (math.isfinite(self.noise_multiplier) and self.noise_multiplier > 0):
            raise DpTermsError(f"noise_multiplier must be > 0, got {self.noise_multiplier!r}")
        if not (math.isfinite(self.max_grad_norm) and self.max_grad_norm > 0):
            raise DpTermsError(f"max_grad_norm must be > 0, got {self.max_grad_norm!r}")
        if not 0 < self.sample_rate <= 1:
            raise DpTermsError(f"sample_rate must be in (0, 1], got {self.sample_rate!r}")
        steps = self.steps_per_round
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise DpTermsError(f"steps_per_round must be an integer >= 1, got {steps!r}")
        if not self.orders or any(not (math.isfinite(a) and a > 1) for a in self.orders):
            raise DpTermsError(f"orders must be a non-empty list of reals > 1, got {self.orders}")
        if len(set(self.orders)) != len(self.orders):
            raise DpTermsError("orders must be distinct")
        if self.level not in DP_LEVELS:
            raise DpTermsError(f"level must be one of {DP_LEVELS}, got {self.level!r}")
        if self.level == "client" and self.steps_per_round != 1:
            raise DpTermsError("client-level DP adds noise once per round: steps_per_round = 1")
        if all(c <= 0 for c in self.caps()):
            raise DpTermsError(
                f"epsilon {self.epsilon} at delta {self.delta} leaves no order a positive cap: "
                "add higher orders"
            )

    def caps(self) -> tuple[float, ...]:
        """cap_i = epsilon - log(1/delta) / (alpha_i - 1), floored at 0 (an unusable order)."""
        log_inv_delta = math.log(1 / self.delta)
        return tuple(max(0.0, self.epsilon - log_inv_delta / (a - 1)) for a in self.orders)

    def caps_fixed(self) -> tuple[int, ...]:
        """The caps in fixed point, rounded down (what the contract is configured with)."""
        return tuple(to_fixed_down(c) for c in self.caps())

    def orders_fixed(self) -> tuple[int, ...]:
        """The orders in fixed point (exact for the default orders)."""
        return tuple(round(a * SCALE) for a in self.orders)

    def epsilon_of(self, rdp: Sequence[float]) -> float:
        """The epsilon at this study's delta that cumulative RDP `rdp` (one per order) gives:
        the best order's r + log(1/delta) / (alpha - 1); 0 when nothing was spent."""
        if len(rdp) != len(self.orders):
            raise DpTermsError(f"expected {len(self.orders)} RDP values, got {len(rdp)}")
        if not any(rdp):
            return 0.0
        log_inv_delta = math.log(1 / self.delta)
        return min(r + log_inv_delta / (a - 1) for r, a in zip(rdp, self.orders, strict=True))

    def to_json_dict(self) -> dict[str, Any]:
        """The plan's `extensions["privacy"]["dp"]` body."""
        return {
            "epsilon": self.epsilon,
            "delta": self.delta,
            "noise_multiplier": self.noise_multiplier,
            "max_grad_norm": self.max_grad_norm,
            "sample_rate": self.sample_rate,
            "steps_per_round": self.steps_per_round,
            "orders": list(self.orders),
            "level": self.level,
            "extensions": dict(self.extensions),
        }

    @classmethod
    def from_json_dict(cls, body: Mapping[str, Any]) -> DpTerms:
        """Parse `to_json_dict` output; raises `DpTermsError` on anything malformed."""
        try:
            return cls(
                epsilon=float(body["epsilon"]),
                delta=float(body["delta"]),
                noise_multiplier=float(body["noise_multiplier"]),
                max_grad_norm=float(body["max_grad_norm"]),
                sample_rate=float(body["sample_rate"]),
                steps_per_round=body["steps_per_round"],
                orders=tuple(float(a) for a in body.get("orders", DEFAULT_ORDERS)),
                level=body.get("level", "record"),
                extensions=dict(body.get("extensions", {})),
            )
        except DpTermsError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise DpTermsError(f"malformed dp terms: {exc!r}") from exc


@dataclass(frozen=True, slots=True)
class BudgetLedger:
    """One hospital's privacy ledger in fixed point: caps and cumulative RDP, one per order.

    The same arithmetic as `PrivacyBudget.charge` (add, then compare), so a trainer can tell
    before it trains whether the contract would accept its next increment.
    """

    caps: tuple[int, ...]
    spent: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.caps) != len(self.spent):
            raise DpTermsError("caps and spent must have one entry per order")

    @classmethod
    def fresh(cls, caps: Sequence[int]) -> BudgetLedger:
        """A ledger with nothing spent."""
        return cls(tuple(caps), (0,) * len(caps))

    def _check(self, increment: Sequence[int]) -> None:
        if len(increment) != len(self.caps):
            raise DpTermsError(f"expected {len(self.caps)} increments, got {len(increment)}")
        if any(i < 0 for i in increment):
            raise DpTermsError("RDP increments are never negative")

    def affords(self, increment: Sequence[int]) -> bool:
        """Whether after `increment` at least one order is still at or under its cap."""
        self._check(increment)
        return any(s + i <= c for s, i, c in zip(self.spent, increment, self.caps, strict=True))

    def after(self, increment: Sequence[int]) -> BudgetLedger:
        """The ledger with `increment` added (whether or not it is affordable)."""
        self._check(increment)
        return BudgetLedger(
            self.caps, tuple(s + i for s, i in zip(self.spent, increment, strict=True))
        )

    def rounds_left(self, increment: Sequence[int]) -> int:
        """How many more rounds of `increment` each this ledger affords."""
        self._check(increment)
        best = 0
        for s, i, c in zip(self.spent, increment, self.caps, strict=True):
            if s > c:
                continue
            if i == 0:
                return 2**63 - 1
            best = max(best, (c - s) // i)
        return best


@dataclass(frozen=True, slots=True)
class BudgetRecord:
    """A dp-mode study's budget as the `PrivacyBudget` contract holds it: the terms (read back
    from fixed point), the caps it enforces and the block they were fixed at."""

    terms: DpTerms
    caps: tuple[int, ...]
    orders: tuple[int, ...]
    """The orders in fixed point, as stored."""
    configured_block: int

    def fresh_ledger(self) -> BudgetLedger:
        """A ledger under these caps with nothing spent."""
        return BudgetLedger.fresh(self.caps)


@dataclass(frozen=True, slots=True)
class BudgetSnapshot:
    """A dp-mode study's on-chain budget at one block, as the audit reads it."""

    record: BudgetRecord
    charges: Mapping[tuple[int, Address], tuple[int, ...]]
    """(round, hospital) -> the increment that hospital charged for that round."""
    spent: Mapping[Address, tuple[int, ...]]
    """hospital -> its cumulative RDP per order (the contract's ledger)."""
