"""What a patient is told about the privacy spent on their hospital's data (issue 14).

`GET /v1/studies/{study}/patients/{patient}/consent` carries a `privacy` section in a study with
a privacy budget (modes "dp" and "dp+secagg"): the epsilon the patient's hospital has spent so
far at the study's delta, computed from its cumulative RDP on the `PrivacyBudget` contract
(`consent.privacy.DpTerms.epsilon_of`: the best order's r + log(1/delta) / (alpha - 1)), the
study's epsilon budget, and the rounds the hospital was charged for. Record-level DP bounds what
any model of the study can reveal about one record, so this is the guarantee the patient has.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from chain.deploy import Ledger
from consent.ids import Address, StudyId
from consent.privacy import from_fixed

__all__ = ["PrivacySpentOut", "privacy_spent"]


class PrivacySpentOut(BaseModel):
    """The differential privacy spent on the patient's hospital's data in a dp study."""

    hospital: str
    level: str = Field(description="record (DP-SGD at each hospital) or client")
    epsilon_spent: float = Field(
        description="epsilon at `delta` that the hospital's cumulative RDP on chain gives"
    )
    epsilon_budget: float = Field(description="the study's epsilon per hospital")
    delta: float
    rounds_charged: list[int] = Field(description="rounds the hospital was charged for")


def privacy_spent(ledger: Ledger, study: StudyId, hospital: Address) -> PrivacySpentOut | None:
    """The `privacy` section for a patient of `hospital`, or None outside a dp study."""
    budget = ledger.budget
    if budget is None:
        return None
    record = budget.record(study)
    if record is None:
        return None
    spent = budget.spent(study, hospital) or (0,) * len(record.caps)
    charged = [
        r
        for r in range(ledger.rounds.round_count(study))
        if budget.charged(study, r, hospital) is not None
    ]
    return PrivacySpentOut(
        hospital=hospital,
        level=record.terms.level,
        epsilon_spent=record.terms.epsilon_of([from_fixed(v) for v in spent]),
        epsilon_budget=record.terms.epsilon,
        delta=record.terms.delta,
        rounds_charged=charged,
    )
