"""Custom errors of the SecAggCoordinator contract (privacy mode "secagg"), one class each.

Kept beside `chain.errors` (whose `custom_error_classes` imports this module, registering them)
so that module stays one screen of the three original contracts' errors.
"""

from __future__ import annotations

from chain.errors import ContractRevertError

__all__ = [
    "AlreadyRevealedError",
    "InvalidThresholdError",
    "KeyAlreadyDealtError",
    "NoKeysRegisteredError",
    "NotASurvivorError",
    "RevealWindowOpenError",
    "RoundAlreadyAbortedError",
    "SecAggAlreadyConfiguredError",
    "SecAggNotAggregatorError",
    "SecAggNotConfiguredError",
    "SecAggNotMemberError",
    "SecAggRoundNotOpenError",
    "SecAggUnknownStudyError",
    "SecAggZeroValueError",
    "SubmissionsAlreadyClosedError",
    "SubmissionsNotClosedError",
    "ThresholdReachedError",
]


class SecAggUnknownStudyError(ContractRevertError, LookupError):
    """The study was never created (secagg coordinator)."""

    signature = "SecAggUnknownStudy(bytes32)"


class SecAggNotAggregatorError(ContractRevertError, PermissionError):
    """The caller is not the study's aggregator."""

    signature = "SecAggNotAggregator(bytes32,address)"


class SecAggNotMemberError(ContractRevertError, PermissionError):
    """The caller is not a member hospital of the study."""

    signature = "SecAggNotMember(bytes32,address)"


class SecAggAlreadyConfiguredError(ContractRevertError, RuntimeError):
    """The study's secagg threshold was already set."""

    signature = "SecAggAlreadyConfigured(bytes32)"


class SecAggNotConfiguredError(ContractRevertError, RuntimeError):
    """The study has no secagg threshold yet."""

    signature = "SecAggNotConfigured(bytes32)"


class InvalidThresholdError(ContractRevertError, ValueError):
    """A secagg threshold must be at least 2."""

    signature = "InvalidThreshold(uint32)"


class SecAggZeroValueError(ContractRevertError, ValueError):
    """A zero key or hash was given."""

    signature = "SecAggZeroValue()"


class NoKeysRegisteredError(ContractRevertError, LookupError):
    """The hospital has no registered secagg keys."""

    signature = "NoKeysRegistered(bytes32,address)"


class KeyAlreadyDealtError(ContractRevertError, RuntimeError):
    """The hospital already dealt its current mask key."""

    signature = "KeyAlreadyDealt(bytes32,address,uint64)"


class SecAggRoundNotOpenError(ContractRevertError, RuntimeError):
    """The ledger round is not open."""

    signature = "SecAggRoundNotOpen(bytes32,uint64)"


class SubmissionsAlreadyClosedError(ContractRevertError, RuntimeError):
    """The round's submissions are already closed."""

    signature = "SubmissionsAlreadyClosed(bytes32,uint64)"


class SubmissionsNotClosedError(ContractRevertError, RuntimeError):
    """The round's submissions are not closed yet."""

    signature = "SubmissionsNotClosed(bytes32,uint64)"


class NotASurvivorError(ContractRevertError, PermissionError):
    """The hospital submitted nothing before the close: it has nothing to reveal."""

    signature = "NotASurvivor(bytes32,uint64,address)"


class AlreadyRevealedError(ContractRevertError, RuntimeError):
    """The hospital already revealed in this round."""

    signature = "AlreadyRevealed(bytes32,uint64,address)"


class RoundAlreadyAbortedError(ContractRevertError, RuntimeError):
    """The round was aborted."""

    signature = "RoundAlreadyAborted(bytes32,uint64)"


class ThresholdReachedError(ContractRevertError, RuntimeError):
    """Enough hospitals remain to recover the sum: the round may not be aborted."""

    signature = "ThresholdReached(bytes32,uint64,uint32,uint32)"


class RevealWindowOpenError(ContractRevertError, RuntimeError):
    """Reveals may still arrive: the round may not be aborted yet."""

    signature = "RevealWindowOpen(bytes32,uint64,uint256)"
