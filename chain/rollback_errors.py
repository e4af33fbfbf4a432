"""The custom errors of the Rollbacks contract (issue 16) that no other contract declares.

Kept apart from `chain.errors` (its size); `chain.errors.custom_error_classes` imports this
module, so the revert decoder knows these errors like any other. `UnknownStudy`,
`NotAggregator` and `RoundNotOpen` share their selectors with the RoundLedger's classes.
"""

from __future__ import annotations

from chain.errors import ContractRevertError

__all__ = [
    "BaseModelMismatchError",
    "BaseOutsideHistoryError",
    "NoRevocationsServedError",
    "PatientNotRevokedError",
    "RollbackAlreadyRecordedError",
    "ShardCountChangedError",
    "ShardCountOutOfRangeError",
    "ShardMaskOutOfRangeError",
]


class BaseOutsideHistoryError(ContractRevertError, ValueError):
    """A rollback's base round is not an earlier round of the study's history."""

    signature = "BaseOutsideHistory(bytes32,uint64,uint64)"


class BaseModelMismatchError(ContractRevertError, ValueError):
    """The rollback round was not opened on its base round's base model."""

    signature = "BaseModelMismatch(bytes32,uint64,uint64)"


class RollbackAlreadyRecordedError(ContractRevertError, RuntimeError):
    """The round is already recorded as a rollback (recorded once, never changed)."""

    signature = "RollbackAlreadyRecorded(bytes32,uint64)"


class NoRevocationsServedError(ContractRevertError, ValueError):
    """A rollback must serve at least one revocation."""

    signature = "NoRevocationsServed()"


class PatientNotRevokedError(ContractRevertError, ValueError):
    """A patient the rollback claims to serve has not revoked consent in the study."""

    signature = "PatientNotRevoked(bytes32,address,uint256)"


class ShardCountOutOfRangeError(ContractRevertError, ValueError):
    """A rollback's shard count is not 1 to 256."""

    signature = "ShardCountOutOfRange(uint16)"


class ShardMaskOutOfRangeError(ContractRevertError, ValueError):
    """A rollback's shard mask names no shard, or a shard at or past the shard count."""

    signature = "ShardMaskOutOfRange(uint256,uint16)"


class ShardCountChangedError(ContractRevertError, ValueError):
    """A rollback's shard count differs from the study's earlier rollbacks'."""

    signature = "ShardCountChanged(bytes32,uint16,uint16)"
