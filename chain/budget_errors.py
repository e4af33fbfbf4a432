"""The `PrivacyBudget` contract's custom errors, one class each (see `chain.errors`).

Kept beside `chain/errors.py` rather than in it (that module is near the size limit); importing
`chain._facade` imports this module, so the revert decoder always knows these classes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chain.errors import ContractRevertError
from consent import privacy

__all__ = [
    "AlreadyChargedError",
    "BadBudgetTermsError",
    "BudgetAlreadyConfiguredError",
    "BudgetExhaustedError",
    "BudgetNotChargedError",
    "IncrementLengthMismatchError",
    "NotCoordinatorError",
    "NotDpStudyError",
]


class NotCoordinatorError(ContractRevertError, PermissionError):
    """The caller is not the study's coordinator."""

    signature = "NotCoordinator(bytes32,address)"


class BudgetAlreadyConfiguredError(ContractRevertError, RuntimeError):
    """The study's DP terms and caps are already fixed."""

    signature = "BudgetAlreadyConfigured(bytes32)"


class BadBudgetTermsError(ContractRevertError, ValueError):
    """Terms with no orders or not one cap per order."""

    signature = "BadBudgetTerms(bytes32,uint256,uint256)"


class NotDpStudyError(ContractRevertError, LookupError):
    """The study has no privacy budget."""

    signature = "NotDpStudy(bytes32)"


class AlreadyChargedError(ContractRevertError, RuntimeError):
    """The hospital already charged this round."""

    signature = "AlreadyCharged(bytes32,uint64,address)"


class IncrementLengthMismatchError(ContractRevertError, ValueError):
    """An increment without one value per order."""

    signature = "IncrementLengthMismatch(uint256,uint256)"


class BudgetExhaustedError(ContractRevertError, privacy.BudgetExhaustedError):
    """The charge would leave no order under its cap (also the domain's error, for `fl/`)."""

    signature = "BudgetExhausted(bytes32,uint64,address)"

    def __init__(self, arguments: Mapping[str, Any], *, tx_hash: str | None = None) -> None:
        super().__init__(arguments, tx_hash=tx_hash)
        self.round = int(self.arguments["round"])


class BudgetNotChargedError(ContractRevertError, RuntimeError):
    """A dp-mode update for a round its hospital did not charge."""

    signature = "BudgetNotCharged(bytes32,uint64,address)"
