"""Errors of the trainer and aggregator roles (under the `fl` root `FlError`)."""

from __future__ import annotations

from fl.errors import FlError

__all__ = [
    "BaseModelMismatchError",
    "ConsentRetryExhaustedError",
    "MetadataError",
    "RoleError",
    "RoundKeptChangingError",
]


class RoleError(FlError):
    """Root of the roles' errors."""


class BaseModelMismatchError(RoleError, ValueError):
    """An artifact whose SHA-256 differs from the hash recorded on chain: it is never used."""

    def __init__(self, cid: str, expected: bytes, actual: bytes) -> None:
        super().__init__(
            f"artifact {cid} has SHA-256 0x{actual.hex()}, the ledger records 0x{expected.hex()}"
        )
        self.cid = cid
        self.expected = expected
        self.actual = actual


class MetadataError(RoleError, ValueError):
    """The study's metadata artifact is not a training plan this version understands."""


class ConsentRetryExhaustedError(RoleError, RuntimeError):
    """The ledger kept refusing the update as stale after `attempts` resyncs."""

    def __init__(self, round_: int, attempts: int) -> None:
        super().__init__(
            f"round {round_}: update refused as stale {attempts} times in a row; giving up"
        )
        self.round = round_
        self.attempts = attempts


class RoundKeptChangingError(RoleError, RuntimeError):
    """New updates kept landing in `round` while the aggregator finalized it, `attempts` reads in
    a row; the round is still open."""

    def __init__(self, round_: int, attempts: int) -> None:
        super().__init__(
            f"round {round_}: new updates kept landing while finalizing ({attempts} reads of the "
            "round); it is still open"
        )
        self.round = round_
        self.attempts = attempts
