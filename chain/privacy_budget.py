"""Typed facade of the PrivacyBudget contract: a dp-mode study's RDP ledger per hospital.

Values cross as the domain's types (`consent.privacy`): the terms are written from `DpTerms`
in fixed point and read back into a `BudgetRecord`; ledgers come back as `BudgetLedger`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from web3.logs import DISCARD
from web3.types import TxReceipt

from chain._facade import ContractFacade
from chain.errors import ChainError
from consent.events import EventPosition
from consent.ids import Address, StudyId, parse_address
from consent.privacy import (
    SCALE,
    BudgetLedger,
    BudgetRecord,
    DpLevel,
    DpTerms,
    from_fixed,
)

__all__ = ["BudgetCharged", "BudgetConfigured", "PrivacyBudget", "terms_to_chain"]

_GAS_CONFIGURE_BASE: Final = 250_000
_GAS_CHARGE_BASE: Final = 120_000
_GAS_PER_ORDER: Final = 70_000
_LEVELS: Final[tuple[DpLevel, ...]] = ("record", "client")


@dataclass(frozen=True, slots=True)
class BudgetConfigured:
    """A study's DP terms and caps were fixed."""

    study: StudyId
    caps: tuple[int, ...]
    position: EventPosition


@dataclass(frozen=True, slots=True)
class BudgetCharged:
    """A hospital charged its RDP increment for a round."""

    study: StudyId
    round: int
    hospital: Address
    increment: tuple[int, ...]
    position: EventPosition


def terms_to_chain(terms: DpTerms) -> tuple[Any, ...]:
    """The `Terms` struct for `configure` (reals in fixed point; `configuredBlock` is set by the
    contract)."""
    return (
        round(terms.epsilon * SCALE),
        round(terms.delta * SCALE),
        round(terms.noise_multiplier * SCALE),
        round(terms.max_grad_norm * SCALE),
        round(terms.sample_rate * SCALE),
        terms.steps_per_round,
        _LEVELS.index(terms.level),
        list(terms.orders_fixed()),
        list(terms.caps_fixed()),
        0,
    )


class PrivacyBudget(ContractFacade):
    """Caps per order fixed once per study; each hospital's cumulative RDP."""

    CONTRACT = "PrivacyBudget"

    def configure(self, study: StudyId, terms: DpTerms) -> BudgetConfigured:
        """Fix `study`'s terms and caps (the sender must be its coordinator)."""
        gas = _GAS_CONFIGURE_BASE + _GAS_PER_ORDER * len(terms.orders)
        receipt = self._transact(gas, "configure", bytes(study), terms_to_chain(terms))
        args, position = self._event(receipt, "BudgetConfigured")
        return BudgetConfigured(study, tuple(int(c) for c in args["caps"]), position)

    def charge(self, study: StudyId, round_: int, increment: Sequence[int]) -> BudgetCharged:
        """Add the sender's `increment` for `round_`; raises `BudgetExhaustedError` if no order
        would stay under its cap (nothing changes then)."""
        gas = _GAS_CHARGE_BASE + _GAS_PER_ORDER * len(increment)
        receipt = self._transact(gas, "charge", bytes(study), round_, [int(i) for i in increment])
        args, position = self._event(receipt, "BudgetCharged")
        return BudgetCharged(
            study,
            int(args["round"]),
            parse_address(args["hospital"]),
            tuple(int(i) for i in args["increment"]),
            position,
        )

    def is_dp_study(self, study: StudyId) -> bool:
        """Whether `study` has a privacy budget."""
        return bool(self._call("isDpStudy", bytes(study)))

    def record(self, study: StudyId) -> BudgetRecord | None:
        """`study`'s terms and caps as stored, or None if it is not a dp-mode study."""
        raw = self._call_named("getTerms", bytes(study))
        if not raw["orders"]:
            return None
        orders = tuple(int(a) for a in raw["orders"])
        terms = DpTerms(
            epsilon=from_fixed(int(raw["epsilon"])),
            delta=from_fixed(int(raw["delta"])),
            noise_multiplier=from_fixed(int(raw["noiseMultiplier"])),
            max_grad_norm=from_fixed(int(raw["maxGradNorm"])),
            sample_rate=from_fixed(int(raw["sampleRate"])),
            steps_per_round=int(raw["stepsPerRound"]),
            orders=tuple(from_fixed(a) for a in orders),
            level=_LEVELS[int(raw["level"])],
        )
        caps = tuple(int(c) for c in raw["caps"])
        return BudgetRecord(terms, caps, orders, int(raw["configuredBlock"]))

    def spent(self, study: StudyId, hospital: Address) -> tuple[int, ...]:
        """`hospital`'s cumulative RDP per order (empty before its first charge)."""
        return tuple(int(v) for v in self._call("spent", bytes(study), hospital))

    def ledger(self, study: StudyId, hospital: Address, record: BudgetRecord) -> BudgetLedger:
        """`hospital`'s ledger under `record`'s caps."""
        spent = self.spent(study, hospital)
        return BudgetLedger(record.caps, spent or (0,) * len(record.caps))

    def charged(self, study: StudyId, round_: int, hospital: Address) -> tuple[int, ...] | None:
        """What `hospital` charged for `round_`, or None if it did not."""
        values = tuple(int(v) for v in self._call("charged", bytes(study), round_, hospital))
        return values or None

    def _event(self, receipt: TxReceipt, name: str) -> tuple[Any, EventPosition]:
        found = self._contract.events[name]().process_receipt(receipt, errors=DISCARD)
        if len(found) != 1:
            raise ChainError(f"expected one {name} event, the receipt has {len(found)}")
        event = found[0]
        return event["args"], EventPosition(int(event["blockNumber"]), int(event["logIndex"]))
