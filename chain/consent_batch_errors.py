"""The custom errors of batched first consents (`IConsentBatches.sol`, issue 19).

Kept apart from `chain.errors` (its size); `chain.errors.custom_error_classes` imports this
module, so the revert decoder knows these like any other.
"""

from __future__ import annotations

from chain.errors import ContractRevertError

__all__ = [
    "AlreadyMaterializedError",
    "BadBatchSizeError",
    "NotFirstGrantError",
    "NotInBatchError",
    "PatientsNotAscendingError",
    "UnknownBatchError",
]


class NotFirstGrantError(ContractRevertError, ValueError):
    """A batched first grant names a patient whose grant nonce is above 0 (use the ordinary
    grant path)."""

    signature = "NotFirstGrant(bytes32,address)"


class PatientsNotAscendingError(ContractRevertError, ValueError):
    """A batch's patients are not strictly ascending (one appears twice, or out of order)."""

    signature = "PatientsNotAscending(uint256)"


class BadBatchSizeError(ContractRevertError, ValueError):
    """A batch is empty or larger than `MAX_CONSENT_BATCH`."""

    signature = "BadBatchSize(uint256)"


class UnknownBatchError(ContractRevertError, LookupError):
    """No such consent batch in the study."""

    signature = "UnknownBatch(bytes32,uint256)"


class NotInBatchError(ContractRevertError, ValueError):
    """The Merkle proof does not place the patient and terms in the batch."""

    signature = "NotInBatch(bytes32,address,uint256)"


class AlreadyMaterializedError(ContractRevertError, ValueError):
    """The patient already has a per-patient record in the study."""

    signature = "AlreadyMaterialized(bytes32,address)"
