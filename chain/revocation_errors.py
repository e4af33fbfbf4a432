"""The custom error of the ConsentRegistry's revocation batch (issue 19).

Kept apart from `chain.errors` (its size); `chain.errors.custom_error_classes` imports this
module, so the revert decoder knows it like any other.
"""

from __future__ import annotations

from chain.errors import ContractRevertError

__all__ = ["RevocationBatchMismatchError"]


class RevocationBatchMismatchError(ContractRevertError, ValueError):
    """`revokeBatchWithSig`'s patients, deadlines and signatures differ in length."""

    signature = "RevocationBatchMismatch(uint256,uint256,uint256)"
