"""`privacy-budget`: a dp-mode study's on-chain RDP ledger, recomputed from its on-chain terms.

For a study with a `PrivacyBudget` record (any other passes with "not a dp-mode study"):

* the caps are epsilon - log(1/delta) / (alpha - 1) of the stored epsilon, delta and orders (a
  coordinator cannot configure looser caps than the terms it published), fixed before round 0;
* every update in the study was charged, and every charge equals, order by order and to 1e-6,
  the increment the RDP accountant computes from the stored noise multiplier, sampling rate and
  steps (an under-reporting hospital fails here);
* each hospital's cumulative ledger is the sum of its charges (to 1e-6) and still leaves an order
  at or under its cap; the detail reports the epsilon it spent, after every round.

The accountant is injected (`RdpAccountant`: `fl.privacy.rdp_increment` is Opacus'); `chain/`
does not import it (torch stays in `fl/`). Without one, a dp-mode study fails this check with
the reason, rather than passing unverified.

What this cannot see: whether a hospital really trained with the declared noise (its update is
sealed; detectable by replay, see the sound-audit issue), and, in client-level mode, whether the
aggregator added its noise.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Final

from chain.audit.report import AuditCheck
from chain.audit.view import AuditView
from consent.ids import Address
from consent.privacy import BudgetSnapshot, DpTerms, from_fixed

__all__ = ["TOLERANCE", "PrivacyBudget", "RdpAccountant"]

RdpAccountant = Callable[[DpTerms], Sequence[float]]
"""The RDP of one round under the terms, one value per order."""

TOLERANCE: Final = 1e-6


class PrivacyBudget:
    """The check; `accountant` recomputes the per-round increments."""

    name: Final = "privacy-budget"

    def __init__(self, accountant: RdpAccountant | None = None) -> None:
        self._accountant = accountant

    def run(self, view: AuditView) -> list[AuditCheck]:
        """See the module docstring."""
        budget = view.budget
        if budget is None:  # one fact per audited study with rounds, like the other checks
            if not view.rounds:
                return []
            return [AuditCheck(self.name, True, "study", "not a dp-mode study: no budget to check")]
        found = [self._caps(view, budget)]
        if self._accountant is None:
            return [
                *found,
                AuditCheck(
                    self.name, False, "study",
                    "no RDP accountant to recompute the increments with (install the dp extra)",
                ),
            ]  # fmt: skip
        expected = tuple(self._accountant(budget.record.terms))
        found += self._charges(view, budget, expected)
        found += [self._ledger(budget, h) for h in sorted(budget.spent)]
        return found

    def _caps(self, view: AuditView, budget: BudgetSnapshot) -> AuditCheck:
        record = budget.record
        if record.terms.caps_fixed() != record.caps:
            return AuditCheck(
                self.name, False, "study",
                f"caps on chain {record.caps} are not those of epsilon {record.terms.epsilon}, "
                f"delta {record.terms.delta}: {record.terms.caps_fixed()}",
            )  # fmt: skip
        if view.rounds and record.configured_block > view.rounds[0].opened_block:
            return AuditCheck(
                self.name, False, "study",
                f"budget fixed at block {record.configured_block}, after round 0 opened",
            )  # fmt: skip
        return AuditCheck(
            self.name, True, "study",
            f"caps match epsilon {record.terms.epsilon} at delta {record.terms.delta} over "
            f"{len(record.caps)} orders, fixed before round 0",
        )  # fmt: skip

    def _charges(
        self, view: AuditView, budget: BudgetSnapshot, expected: Sequence[float]
    ) -> list[AuditCheck]:
        found = []
        for round_ in view.rounds:
            charged_here = {h for (r, h) in budget.charges if r == round_.round}
            submitted = {u.hospital for u in view.updates(round_.round)}
            for hospital in sorted(submitted | charged_here):
                found.append(self._charge(budget, round_.round, hospital, expected))
        return found

    def _charge(
        self, budget: BudgetSnapshot, round_: int, hospital: Address, expected: Sequence[float]
    ) -> AuditCheck:
        def result(passed: bool, detail: str) -> AuditCheck:
            return AuditCheck(self.name, passed, "charge", detail, round_, hospital)

        charged = budget.charges.get((round_, hospital))
        if charged is None:
            return result(False, "update submitted without a privacy-budget charge")
        off = _worst(charged, expected)
        if off is not None:
            return result(
                False,
                f"charged RDP {from_fixed(charged[off]):.9f} at order "
                f"{budget.record.terms.orders[off]}, the accountant says {expected[off]:.9f}",
            )
        epsilon = budget.record.terms.epsilon_of(expected)
        return result(True, f"charge equals the accountant's increment (epsilon {epsilon:.4f})")

    def _ledger(self, budget: BudgetSnapshot, hospital: Address) -> AuditCheck:
        def result(passed: bool, detail: str) -> AuditCheck:
            return AuditCheck(self.name, passed, "ledger", detail, None, hospital)

        terms = budget.record.terms
        mine = [c for (r, h), c in sorted(budget.charges.items()) if h == hospital]
        total = [sum(values) for values in zip(*mine, strict=True)] or [0] * len(terms.orders)
        spent = budget.spent[hospital] or (0,) * len(terms.orders)
        off = _worst(spent, [from_fixed(t) for t in total])
        if off is not None:
            return result(
                False,
                f"ledger holds {from_fixed(spent[off]):.9f} at order {terms.orders[off]}, "
                f"its charges sum to {from_fixed(total[off]):.9f}",
            )
        if spent and not any(s <= c for s, c in zip(spent, budget.record.caps, strict=True)):
            return result(False, "every order is over its cap")
        per_round = []
        running = [0] * len(terms.orders)
        for (r, h), charged in sorted(budget.charges.items()):
            if h == hospital:
                running = [a + b for a, b in zip(running, charged, strict=True)]
                per_round.append(f"r{r}: {terms.epsilon_of([from_fixed(v) for v in running]):.4f}")
        epsilon = terms.epsilon_of([from_fixed(s) for s in spent])
        return result(
            True,
            f"epsilon spent {epsilon:.4f} of {terms.epsilon} at delta {terms.delta} "
            f"(after each round: {', '.join(per_round) or 'none'})",
        )


def _worst(charged: Sequence[int], expected: Sequence[float]) -> int | None:
    """The first order whose fixed-point value differs from `expected` by more than 1e-6."""
    if len(charged) != len(expected):
        return 0
    for i, (c, e) in enumerate(zip(charged, expected, strict=True)):
        if not math.isclose(from_fixed(c), e, rel_tol=0.0, abs_tol=TOLERANCE):
            return i
    return None
