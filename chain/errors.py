"""The chain package's exceptions: one root, and one class per Solidity custom error.

web3.py does not decode custom errors; `chain.revert_decoder.RevertDecoder` turns a revert of
either backend into the `ContractRevertError` subclass of this module whose selector it carries
(`custom_error_classes`), with the error's arguments by their Solidity names (snake_cased).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from eth_utils.abi import function_signature_to_4byte_selector

from chain.unavailable import NodeUnavailableError

__all__ = [
    "ChainConnectionError",
    "ChainError",
    "ChainIdMismatchError",
    "ChainRequestError",
    "ChainUnavailableError",
    "CompilationError",
    "ContractRevertError",
    "DeploymentError",
    "NoContractCodeError",
    "TransactionRevertedError",
    "custom_error_classes",
]


class ChainError(Exception):
    """Root of every error raised by `chain/`."""


class CompilationError(ChainError, RuntimeError):
    """The contracts could not be compiled or an artifact is missing."""


class ChainUnavailableError(ChainError, NodeUnavailableError):
    """The chain node cannot be reached or does not answer JSON-RPC in time.

    Raised by the connection's middleware for every request (`chain.connection`), so a down node
    never surfaces as a revert or a web3 error.
    """

    def __init__(self, rpc: str, reason: str) -> None:
        NodeUnavailableError.__init__(
            self, f"cannot reach chain at {rpc}: {_condensed(reason)}", url=rpc, reason=reason
        )
        self.rpc = rpc


ChainConnectionError = ChainUnavailableError
"""The former name of `ChainUnavailableError`."""


class ChainRequestError(ChainError, RuntimeError):
    """The node answered, but with an error that is neither a revert nor a transport failure."""


class BlockNotFoundError(ChainRequestError, LookupError):
    """The node has no block of the number asked for (or answered with another block)."""


def _condensed(reason: str) -> str:
    """The gist of a transport error (requests/urllib3 wrap the cause in three layers of repr)."""
    lowered = reason.lower()
    if "connection refused" in lowered:
        return "connection refused (is the node running?)"
    if "timed out" in lowered or "timeout" in lowered:
        return "timed out"
    if "name or service not known" in lowered or "nodename nor servname" in lowered:
        return "unknown host"
    return reason


class ChainIdMismatchError(ChainError, ValueError):
    """The node's chain id is not the one the deployment was made on."""

    def __init__(self, expected: int, actual: int) -> None:
        super().__init__(f"chain id is {actual}, the deployment is on chain {expected}")
        self.expected = expected
        self.actual = actual


class NoContractCodeError(ChainError, LookupError):
    """No contract code at an address the deployment names."""

    def __init__(self, contract: str, address: str) -> None:
        super().__init__(f"no contract code for {contract} at {address}")
        self.contract = contract
        self.address = address


class DeploymentError(ChainError, RuntimeError):
    """A deployment did not complete or a manifest is invalid."""


class TransactionRevertedError(ChainError, RuntimeError):
    """A transaction or call reverted without a decodable custom error (out of gas, panic...)."""

    def __init__(self, message: str, *, tx_hash: str | None = None, data: bytes = b"") -> None:
        super().__init__(message if tx_hash is None else f"{message} (tx {tx_hash})")
        self.tx_hash = tx_hash
        self.data = data


class ContractRevertError(ChainError):
    """A contract reverted with a custom error; `arguments` holds its decoded arguments."""

    signature: ClassVar[str] = ""

    def __init__(self, arguments: Mapping[str, Any], *, tx_hash: str | None = None) -> None:
        self.arguments: dict[str, Any] = dict(arguments)
        self.tx_hash = tx_hash
        shown = ", ".join(f"{k}={_show(v)}" for k, v in self.arguments.items())
        # Exception.__init__ directly: some subclasses also derive from a consent-domain error
        # whose __init__ takes other arguments.
        Exception.__init__(self, f"{type(self).error_name()}({shown})")

    @classmethod
    def error_name(cls) -> str:
        """The Solidity error name, e.g. `StaleConsent`."""
        return cls.signature.split("(", 1)[0]

    @classmethod
    def selector(cls) -> bytes:
        """The 4-byte selector of the Solidity error."""
        return function_signature_to_4byte_selector(cls.signature)


def _show(value: Any) -> str:
    return "0x" + value.hex() if isinstance(value, bytes) else str(value)


# One class per custom error in the ABIs, named `<SolidityName>Error` (a test asserts none is
# missing). Declared explicitly, not generated from the ABI, so callers can import and catch them.
class AccessControlUnauthorizedAccountError(ContractRevertError, PermissionError):
    """The caller lacks the OpenZeppelin role `needed_role`."""

    signature = "AccessControlUnauthorizedAccount(address,bytes32)"


class AccessControlBadConfirmationError(ContractRevertError, ValueError):
    """`renounceRole` was called for another account."""

    signature = "AccessControlBadConfirmation()"


class StudyAlreadyExistsError(ContractRevertError, RuntimeError):
    """The study id is taken."""

    signature = "StudyAlreadyExists(bytes32)"


class UnknownStudyError(ContractRevertError, LookupError):
    """The study was never created."""

    signature = "UnknownStudy(bytes32)"


class NotStudyCoordinatorError(ContractRevertError, PermissionError):
    """The caller is not the study's coordinator."""

    signature = "NotStudyCoordinator(bytes32,address)"


class HospitalAlreadyMemberError(ContractRevertError, RuntimeError):
    """The hospital is already a member of the study."""

    signature = "HospitalAlreadyMember(bytes32,address)"


class HospitalNotMemberError(ContractRevertError, LookupError):
    """The hospital is not a member of the study."""

    signature = "HospitalNotMember(bytes32,address)"


class ZeroAddressError(ContractRevertError, ValueError):
    """The zero address was given where an account is required."""

    signature = "ZeroAddress()"


class InvalidMinUpdatesError(ContractRevertError, ValueError):
    """A study needs at least one update per round."""

    signature = "InvalidMinUpdates(uint32)"


class NotStudyMemberError(ContractRevertError, PermissionError):
    """The caller is not a member hospital of the study."""

    signature = "NotStudyMember(bytes32,address)"


class InvalidSignerError(ContractRevertError, ValueError):
    """The signature was not made by the patient (forged, replayed or for another chain)."""

    signature = "InvalidSigner(address,address)"


class ConsentAlreadyExpiredError(ContractRevertError, ValueError):
    """The consent's expiry is not in the future."""

    signature = "ConsentAlreadyExpired(uint64,uint256)"


class SignatureExpiredError(ContractRevertError, ValueError):
    """A signature's deadline (consent, revocation or cancellation) has passed."""

    signature = "SignatureExpired(uint64,uint256)"


class NoActiveConsentError(ContractRevertError, LookupError):
    """The patient has no unrevoked consent in the study."""

    signature = "NoActiveConsent(bytes32,address)"


class LengthMismatchError(ContractRevertError, ValueError):
    """Batch arrays differ in length."""

    signature = "LengthMismatch(uint256,uint256,uint256,uint256)"


class ZeroPatientError(ContractRevertError, ValueError):
    """The zero address cannot be a patient."""

    signature = "ZeroPatient()"


class InvalidPurposesError(ContractRevertError, ValueError):
    """Consent purposes that are no DUO scope, or a withdrawal of purposes never granted."""

    signature = "InvalidPurposes(uint64)"


class InvalidValidityError(ContractRevertError, ValueError):
    """A consent's validity period is empty (`validFrom` not before `expiresAt`)."""

    signature = "InvalidValidity(uint64,uint64)"


class InvalidStudyPurposeError(ContractRevertError, ValueError):
    """A study purpose that is not exactly one DUO purpose (plus maybe METHODS)."""

    signature = "InvalidStudyPurpose(uint64)"


class StudyPurposeLockedError(ContractRevertError, RuntimeError):
    """The study's purpose was declared already, or a hospital was admitted."""

    signature = "StudyPurposeLocked(bytes32)"


class ECDSAInvalidSignatureError(ContractRevertError, ValueError):
    """The signature does not recover to any address."""

    signature = "ECDSAInvalidSignature()"


class ECDSAInvalidSignatureLengthError(ContractRevertError, ValueError):
    """The signature is not 65 bytes."""

    signature = "ECDSAInvalidSignatureLength(uint256)"


class ECDSAInvalidSignatureSError(ContractRevertError, ValueError):
    """The signature is malleable (s in the upper half of the curve order)."""

    signature = "ECDSAInvalidSignatureS(bytes32)"


class InvalidShortStringError(ContractRevertError, ValueError):
    """OpenZeppelin ShortStrings: invalid short string."""

    signature = "InvalidShortString()"


class StringTooLongError(ContractRevertError, ValueError):
    """OpenZeppelin ShortStrings: string too long."""

    signature = "StringTooLong(string)"


__all__ += [cls.__name__ for cls in ContractRevertError.__subclasses__()]


def custom_error_classes() -> dict[bytes, type[ContractRevertError]]:
    """Every custom error class by its 4-byte selector (the DatasetInventory's included)."""
    # the PrivacyBudget's classes live in their own module, which imports this one
    import chain.budget_errors  # noqa: F401
    from chain import (
        consent_batch_errors,  # noqa: F401  # the consent batches' (issue 19)
        contributions_errors,  # noqa: F401  # defined apart: this module's size
        inventory_errors,  # noqa: F401  # defined apart: this module's size
        revocation_errors,  # noqa: F401 - imported to register its class
        rollback_errors,  # noqa: F401  # the Rollbacks contract's (issue 16)
        round_ledger_errors,  # noqa: F401  # the RoundLedger's, defined apart: this size
        secagg_errors,  # noqa: F401 - imported to register its classes
    )

    return {cls.selector(): cls for cls in ContractRevertError.__subclasses__()}
