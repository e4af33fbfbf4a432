"""The study plan's revocation policy: `extensions["revocation"]` of the plan document (issue 16).

    "extensions": {"revocation": {"policy": "unlearn", "window_rounds": 2,
                                  "window_seconds": 3600, "shards": 1}}

Absent, the policy is "forward" (every plan written before policies existed): a revocation stops
future rounds from using the patient, and models trained before it stay as they are. "unlearn"
promises more: at most `window_rounds` finalized rounds or `window_seconds` seconds (whichever
comes first) after a revocation, the model in use (the head) has a lineage, every round from the
initial model to the head, that excludes the patient. The aggregator keeps the promise by rollback
rounds (`consent.lineage`, the `Rollbacks` contract); the audit's `lineage` check verifies it.
`shards` > 1 splits each hospital's rows into isolated shards (SISA); 1 is plain rollback.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from consent.formats._document import FormatError

__all__ = [
    "MAX_SHARDS",
    "REVOCATION_KEY",
    "RevocationMode",
    "RevocationPolicy",
    "RevocationPolicyError",
    "UnlearningWindowError",
]

REVOCATION_KEY: Final = "revocation"
MAX_SHARDS: Final = 64


class RevocationPolicyError(FormatError):
    """A revocation policy section that is not one this code can keep."""


class UnlearningWindowError(RevocationPolicyError):
    """An `unlearn` policy whose window is missing, not positive, or not finite.

    Attributes:
        window_rounds: the rounds given.
        window_seconds: the seconds given.
    """

    def __init__(self, window_rounds: object, window_seconds: object) -> None:
        super().__init__(
            "an unlearn policy needs window_rounds >= 1 and window_seconds > 0, got "
            f"{window_rounds!r} rounds and {window_seconds!r} seconds"
        )
        self.window_rounds = window_rounds
        self.window_seconds = window_seconds


class RevocationMode(StrEnum):
    """What a revocation does to models already trained."""

    FORWARD = "forward"
    UNLEARN = "unlearn"


@dataclass(frozen=True, slots=True, kw_only=True)
class RevocationPolicy:
    """A study's revocation policy (see the module docstring)."""

    mode: RevocationMode = RevocationMode.FORWARD
    window_rounds: int = 0
    """At most this many finalized rounds after a revocation until a clean head ("unlearn")."""
    window_seconds: float = 0.0
    """At most this many seconds after a revocation until a clean head ("unlearn")."""
    shards: int = 1
    """SISA shards per hospital ("unlearn"; 1: plain rollback)."""

    def __post_init__(self) -> None:
        if self.mode is RevocationMode.FORWARD:
            if self.window_rounds or self.window_seconds or self.shards != 1:
                raise RevocationPolicyError("a forward policy takes no window and no shards")
            return
        rounds_ok = isinstance(self.window_rounds, int) and self.window_rounds >= 1
        seconds = self.window_seconds
        seconds_ok = isinstance(seconds, int | float) and 0 < seconds < float("inf")
        if not (rounds_ok and seconds_ok):
            raise UnlearningWindowError(self.window_rounds, self.window_seconds)
        if not (isinstance(self.shards, int) and 1 <= self.shards <= MAX_SHARDS):
            raise RevocationPolicyError(f"shards must be 1..{MAX_SHARDS}, got {self.shards!r}")

    @property
    def unlearns(self) -> bool:
        """Whether revocations are unlearned (rollback and retrain)."""
        return self.mode is RevocationMode.UNLEARN

    def to_extension(self) -> dict[str, Any]:
        """The `extensions["revocation"]` value (empty for "forward": older plans keep their
        bytes and CIDs)."""
        if not self.unlearns:
            return {}
        return {
            "policy": self.mode.value,
            "window_rounds": self.window_rounds,
            "window_seconds": self.window_seconds,
            "shards": self.shards,
        }

    @classmethod
    def from_extensions(cls, extensions: Mapping[str, Any]) -> RevocationPolicy:
        """Parse a plan's extensions; raises `RevocationPolicyError` on a bad section."""
        body = extensions.get(REVOCATION_KEY) or {}
        if not isinstance(body, Mapping):
            raise RevocationPolicyError("extensions.revocation must be an object")
        if not body:
            return cls()
        unknown = set(body) - {"policy", "window_rounds", "window_seconds", "shards"}
        if unknown:
            raise RevocationPolicyError(f"unknown revocation policy fields {sorted(unknown)}")
        try:
            mode = RevocationMode(str(body["policy"]))
        except (KeyError, ValueError) as exc:
            raise RevocationPolicyError(
                f"revocation policy must be one of {[m.value for m in RevocationMode]}, "
                f"got {body.get('policy')!r}"
            ) from exc
        rounds, seconds = body.get("window_rounds", 0), body.get("window_seconds", 0.0)
        if isinstance(rounds, bool) or not isinstance(rounds, int):
            raise UnlearningWindowError(rounds, seconds)
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise UnlearningWindowError(rounds, seconds)
        shards = body.get("shards", 1)
        if isinstance(shards, bool) or not isinstance(shards, int):
            raise RevocationPolicyError(f"shards must be an integer, got {shards!r}")
        return cls(mode=mode, window_rounds=rounds, window_seconds=float(seconds), shards=shards)
