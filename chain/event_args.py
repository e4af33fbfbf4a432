"""Readers of decoded event arguments shared by the `chain.*_events` modules, and the shape of
their builders (one typed event from one decoded log)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from consent.events import EventPosition
from consent.ids import Bytes32, StudyId

__all__ = ["Builder", "Timestamp", "b32", "study_arg"]

_Event = TypeVar("_Event")

Timestamp = Callable[[], int]
"""The log's block timestamp, asked of the node only when a builder calls it (once per block:
the decoder caches it by block hash). Round, contribution and rollback events never need it."""

Builder = Callable[[Mapping[str, Any], EventPosition, str, Timestamp], _Event]
"""`Builder[E]` builds one event `E` from a log's decoded arguments, its position, transaction
hash and (lazy) block timestamp."""


def study_arg(args: Mapping[str, Any], key: str = "studyId") -> StudyId:
    """The study id argument `key` of a decoded log."""
    return StudyId(bytes(args[key]))


def b32(value: Any) -> Bytes32:
    """A decoded `bytes32` argument."""
    return Bytes32(bytes(value))
