"""Custom errors of the RoundLedger contract (rounds, updates, finalization), one class each.

Kept beside `chain.errors` (whose `custom_error_classes` imports this module, registering them)
so that module stays within its size.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chain.errors import ContractRevertError
from consent import errors as consent_errors

__all__ = [
    "AggregatedUpdatesMismatchError",
    "AlreadySubmittedError",
    "ConsentBlockBeforeRoundError",
    "ConsentBlockInFutureError",
    "CoordinatorLacksRoleError",
    "InvalidPatientCountError",
    "NotAggregatorError",
    "NotEnoughUpdatesError",
    "PreviousRoundNotFinalizedError",
    "RoundNotOpenError",
    "StaleConsentError",
    "UnexpectedRoundError",
    "ZeroHashError",
    "ZeroSamplesError",
]


class NotAggregatorError(ContractRevertError, PermissionError):
    """The caller is not the study's aggregator."""

    signature = "NotAggregator(bytes32,address)"


class UnexpectedRoundError(ContractRevertError, ValueError):
    """Rounds open strictly in order; `expected` is the next one."""

    signature = "UnexpectedRound(bytes32,uint64,uint64)"


class PreviousRoundNotFinalizedError(ContractRevertError, RuntimeError):
    """The previous round is still open."""

    signature = "PreviousRoundNotFinalized(bytes32,uint64)"


class RoundNotOpenError(ContractRevertError, RuntimeError):
    """The round is not open."""

    signature = "RoundNotOpen(bytes32,uint64)"


class AlreadySubmittedError(ContractRevertError, RuntimeError):
    """The hospital already submitted in this round."""

    signature = "AlreadySubmitted(bytes32,uint64,address)"


class StaleConsentError(ContractRevertError, consent_errors.StaleConsentError):
    """The update's consent block predates a revocation among the hospital's patients.

    Also a `consent.errors.StaleConsentError`, so `fl/` can catch it without importing `chain/`.
    """

    signature = "StaleConsent(uint64,uint256)"

    def __init__(self, arguments: Mapping[str, Any], *, tx_hash: str | None = None) -> None:
        super().__init__(arguments, tx_hash=tx_hash)
        self.consent_block = int(self.arguments["consent_block"])
        self.last_revocation_block = int(self.arguments["last_revocation_block"])


class ConsentBlockInFutureError(ContractRevertError, ValueError):
    """The update's consent block is not before the current block (nobody could have seen it)."""

    signature = "ConsentBlockInFuture(uint64,uint256)"


class ConsentBlockBeforeRoundError(ContractRevertError, ValueError):
    """The update's consent block is before the block that opened the round."""

    signature = "ConsentBlockBeforeRound(uint64,uint256)"


class InvalidPatientCountError(ContractRevertError, ValueError):
    """The update's patient count is zero or above the hospital's active consents."""

    signature = "InvalidPatientCount(uint32,uint256)"


class CoordinatorLacksRoleError(ContractRevertError, PermissionError):
    """The account does not hold COORDINATOR_ROLE (revoked or never granted)."""

    signature = "CoordinatorLacksRole(bytes32,address)"


class NotEnoughUpdatesError(ContractRevertError, RuntimeError):
    """The round has fewer updates than the study's minimum."""

    signature = "NotEnoughUpdates(bytes32,uint64,uint32,uint32)"


class AggregatedUpdatesMismatchError(ContractRevertError, consent_errors.RoundChangedError):
    """The round's update count is not the number of updates the aggregator considered: an update
    landed after the aggregator read the round.

    Also a `consent.errors.RoundChangedError`, so `fl/` can catch it without importing `chain/`.
    """

    signature = "AggregatedUpdatesMismatch(bytes32,uint64,uint32,uint32)"

    def __init__(self, arguments: Mapping[str, Any], *, tx_hash: str | None = None) -> None:
        super().__init__(arguments, tx_hash=tx_hash)
        self.round = int(self.arguments["round"])
        self.considered = int(self.arguments["considered"])
        self.submitted = int(self.arguments["submitted"])


class ZeroHashError(ContractRevertError, ValueError):
    """A zero hash was given where an artifact hash is required."""

    signature = "ZeroHash()"


class ZeroSamplesError(ContractRevertError, ValueError):
    """An update must cover at least one sample."""

    signature = "ZeroSamples()"
