"""Errors of the dataset flow (assess, anonymize, synthesize, cards)."""

from __future__ import annotations

from consent.errors import ConsentError

__all__ = ["DatasetError", "MalformedCardError", "UnknownColumnError", "UnsuitableDataError"]


class DatasetError(ConsentError, ValueError):
    """Root of the dataset flow's errors: bad input, nothing was changed."""


class UnknownColumnError(DatasetError):
    """A quasi-identifier or sensitive column named on the command line is not in the data."""

    def __init__(self, column: str, available: tuple[str, ...]) -> None:
        super().__init__(f"column {column!r} is not in the data (columns: {', '.join(available)})")
        self.column = column


class UnsuitableDataError(DatasetError):
    """The data cannot be assessed as asked (too few rows, no quasi-identifiers, ...)."""


class MalformedCardError(DatasetError):
    """A dataset card's bytes are not a card of a version this code reads."""
