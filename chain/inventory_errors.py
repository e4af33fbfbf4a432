"""The custom errors of the DatasetInventory and the StudyRegistry's admission gate (issue 18).

Kept apart from `chain.errors` (its size); `chain.errors.custom_error_classes` imports this
module, so the revert decoder knows these errors like any other.
"""

from __future__ import annotations

from chain.errors import ContractRevertError

__all__ = [
    "DatasetAlreadyRegisteredError",
    "DatasetBelowThresholdError",
    "DatasetInventoryAlreadySetError",
    "InvalidDatasetCardError",
    "InvalidThresholdsError",
    "NoDatasetOfferedError",
    "NotDatasetOwnerError",
    "ThresholdsAlreadySetError",
    "UnknownDatasetError",
]


class DatasetInventoryAlreadySetError(ContractRevertError, RuntimeError):
    """The StudyRegistry's dataset inventory is set once."""

    signature = "DatasetInventoryAlreadySet(address)"


class DatasetAlreadyRegisteredError(ContractRevertError, RuntimeError):
    """A dataset card with this hash is already registered."""

    signature = "DatasetAlreadyRegistered(bytes32)"


class UnknownDatasetError(ContractRevertError, LookupError):
    """No dataset card with this hash is registered."""

    signature = "UnknownDataset(bytes32)"


class NotDatasetOwnerError(ContractRevertError, PermissionError):
    """The caller did not register this dataset."""

    signature = "NotDatasetOwner(bytes32,address)"


class InvalidDatasetCardError(ContractRevertError, ValueError):
    """Zero card hash, empty CID or a score out of range."""

    signature = "InvalidDatasetCard(bytes32)"


class InvalidThresholdsError(ContractRevertError, ValueError):
    """Admission thresholds out of range."""

    signature = "InvalidThresholds(bytes32)"


class ThresholdsAlreadySetError(ContractRevertError, RuntimeError):
    """The study declared its admission thresholds already (they never change)."""

    signature = "ThresholdsAlreadySet(bytes32)"


class NoDatasetOfferedError(ContractRevertError, PermissionError):
    """The hospital offered no dataset to a study that declared admission thresholds."""

    signature = "NoDatasetOffered(bytes32,address)"


class DatasetBelowThresholdError(ContractRevertError, PermissionError):
    """The hospital's dataset fails the study's threshold on `criterion`."""

    signature = "DatasetBelowThreshold(bytes32,address,bytes32,string)"
