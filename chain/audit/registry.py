"""The audit's checks, in report order: a new mode adds its check module and one line here."""

from __future__ import annotations

from typing import Final

from chain.audit.aggregation import Aggregation
from chain.audit.artifact import Artifacts
from chain.audit.base_model import BaseModel
from chain.audit.check import Check
from chain.audit.combine import Combine
from chain.audit.contributions import Judgement
from chain.audit.datasets import DatasetCards, DatasetThresholds
from chain.audit.exclusion import Exclusion
from chain.audit.freshness import Freshness
from chain.audit.lineage import Lineage
from chain.audit.membership import Membership
from chain.audit.privacy import PrivacyBudget
from chain.audit.proof_files import ProofFiles
from chain.audit.round_sequence import RoundSequence
from chain.audit.secagg import SecAggSum

__all__ = ["CHECKS", "DEFAULT_CHECKS"]

DEFAULT_CHECKS: Final[tuple[Check, ...]] = (
    RoundSequence(),
    BaseModel(),
    Artifacts(),
    Membership(),
    Freshness(),
    Aggregation(),
    Combine(),
    Exclusion(),
    ProofFiles(),
    Lineage(),
    SecAggSum(),
    PrivacyBudget(),  # no accountant here: see `api.wiring.default_audit_checks`
    Judgement(),
    DatasetCards(),
    DatasetThresholds(),
)
CHECKS: Final = tuple(check.name for check in DEFAULT_CHECKS)
"""The names of the checks every audit runs."""
