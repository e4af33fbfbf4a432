"""Custom errors of the Contributions contract (issue 15: per-round contribution values), one
class each.

Kept beside `chain.errors` (whose `custom_error_classes` imports this module, registering them)
so that module stays within its size.
"""

from __future__ import annotations

from chain.errors import ContractRevertError

__all__ = [
    "ContributionsAlreadyRecordedError",
    "HospitalsNotSortedError",
    "NotARoundParticipantError",
    "RoundNotFinalizedError",
    "ValueCountMismatchError",
    "ZeroJudgementHashError",
]


class RoundNotFinalizedError(ContractRevertError, RuntimeError):
    """Contributions are recorded only for a round the round ledger has finalized."""

    signature = "RoundNotFinalized(bytes32,uint64)"


class ContributionsAlreadyRecordedError(ContractRevertError, RuntimeError):
    """The round's contributions are already on chain (recorded once, never changed)."""

    signature = "ContributionsAlreadyRecorded(bytes32,uint64)"


class ValueCountMismatchError(ContractRevertError, ValueError):
    """Not one value per hospital."""

    signature = "ValueCountMismatch(uint256,uint256)"


class HospitalsNotSortedError(ContractRevertError, ValueError):
    """The hospitals are not in strictly ascending address order (or one is listed twice)."""

    signature = "HospitalsNotSorted(uint256)"


class NotARoundParticipantError(ContractRevertError, LookupError):
    """A value for a hospital that submitted no update in the round."""

    signature = "NotARoundParticipant(bytes32,uint64,address)"


class ZeroJudgementHashError(ContractRevertError, ValueError):
    """The round's judgement digest is required."""

    signature = "ZeroJudgementHash()"
