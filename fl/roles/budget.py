"""The roles' side of privacy mode "dp": the budget gate a trainer passes before it trains, and
the test the aggregator runs before it opens another round.

The on-chain `PrivacyBudget` terms are the authority (the caps were fixed there at study
creation); the plan's `dp` terms must agree with them, or the role refuses to take part. A round
costs every hospital the same RDP increment, which Opacus' accountant computes from those terms
(`fl.privacy.rdp_increment_fixed`). The trainer refuses a round it cannot afford before it
trains (the contract would refuse the charge anyway, after the work and with the data touched);
it charges right before it submits, once per round.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable

from consent.ids import Address, StudyId
from consent.privacy import BudgetExhaustedError, BudgetRecord, DpTerms, from_fixed
from fl.ports import LedgerPort, PrivacyBudgetPort
from fl.roles.errors import RoleError

__all__ = ["BudgetGate", "PrivacyTermsMismatchError", "study_end"]

logger = logging.getLogger(__name__)


class PrivacyTermsMismatchError(RoleError, ValueError):
    """The plan's DP terms and the study's on-chain budget disagree (or the budget is missing)."""


def _agree(plan: DpTerms, chain: BudgetRecord) -> bool:
    on_chain = chain.terms
    reals = (
        (plan.epsilon, on_chain.epsilon),
        (plan.delta, on_chain.delta),
        (plan.noise_multiplier, on_chain.noise_multiplier),
        (plan.max_grad_norm, on_chain.max_grad_norm),
        (plan.sample_rate, on_chain.sample_rate),
    )
    return (
        all(math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) for a, b in reals)
        and plan.steps_per_round == on_chain.steps_per_round
        and plan.level == on_chain.level
        and plan.orders_fixed() == chain.orders
        and plan.caps_fixed() == chain.caps
    )


class BudgetGate:
    """One dp-mode study's budget as a role checks and spends it."""

    def __init__(self, port: PrivacyBudgetPort, study: StudyId, record: BudgetRecord) -> None:
        self._port = port
        self.study = study
        self.record = record
        # opacus (the extra `dp`) loads only for a dp-mode study, never for a trainer of another
        from fl.privacy import rdp_increment_fixed

        self.increment = rdp_increment_fixed(record.terms)
        """What one round costs each hospital, per order, in fixed point."""

    @classmethod
    def for_study(
        cls,
        plan_terms: DpTerms | None,
        ledger: LedgerPort,
        study: StudyId,
        budget: PrivacyBudgetPort | None = None,
    ) -> BudgetGate | None:
        """The gate of a dp-mode study (None when the plan has no dp terms).

        Raises `PrivacyTermsMismatchError` when the study has no on-chain budget or its terms are
        not the plan's.
        """
        if plan_terms is None:
            return None
        port = budget if budget is not None else ledger
        if not isinstance(port, PrivacyBudgetPort):
            raise PrivacyTermsMismatchError("the plan is in dp mode but no privacy budget is wired")
        record = port.budget(study)
        if record is None:
            raise PrivacyTermsMismatchError(
                "the plan is in dp mode but the study has no on-chain privacy budget"
            )
        if not _agree(plan_terms, record):
            raise PrivacyTermsMismatchError(
                "the plan's dp terms differ from the study's on-chain privacy budget"
            )
        return cls(port, study, record)

    def epsilon_spent(self, hospital: Address) -> float:
        """`hospital`'s epsilon so far at the study's delta (Mironov's conversion, as the caps)."""
        ledger = self._port.budget_ledger(self.study, hospital)
        return self.record.terms.epsilon_of([from_fixed(s) for s in ledger.spent])

    def affords(self, hospital: Address) -> bool:
        """Whether `hospital` can afford one more round."""
        return self._port.budget_ledger(self.study, hospital).affords(self.increment)

    def check(self, round_: int, hospital: Address) -> None:
        """Raise `BudgetExhaustedError` (before any training) if `hospital` cannot afford
        `round_`; a round it already charged is paid for."""
        if self._port.budget_charged(self.study, round_, hospital) is not None:
            return
        if not self.affords(hospital):
            raise BudgetExhaustedError(
                f"privacy budget exhausted: round {round_} would take {hospital} past "
                f"epsilon {self.record.terms.epsilon} at delta {self.record.terms.delta} "
                f"(spent so far: epsilon {self.epsilon_spent(hospital):.4f}); not training"
            )

    def charge(self, round_: int, hospital: Address) -> None:
        """Charge `round_` unless already charged (the contract refuses an overspend)."""
        if self._port.budget_charged(self.study, round_, hospital) is None:
            self._port.charge_budget(self.study, round_, self.increment)
            logger.info("round %d: charged the privacy budget", round_)

    def anyone_affords(self, hospitals: Iterable[Address]) -> bool:
        """Whether at least one of `hospitals` can afford another round."""
        return any(self.affords(h) for h in hospitals)


def study_end(
    plan_terms: DpTerms | None, ledger: LedgerPort, study: StudyId, round_: int
) -> str | None:
    """dp mode: why the study ends before `round_` (no member hospital can afford it), or None
    when it goes on (or is not a dp-mode study)."""
    gate = BudgetGate.for_study(plan_terms, ledger, study)
    if gate is None or gate.anyone_affords(ledger.study(study).hospitals):
        return None
    reason = (
        f"privacy budget exhausted: no hospital can afford round {round_}, "
        f"the study ends with {round_} round(s)"
    )
    logger.warning("%s", reason)
    return reason
