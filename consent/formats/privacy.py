"""The study plan's privacy mode: `extensions["privacy"]` of the plan document.

    "extensions": {"privacy": {"mode": "secagg", "threshold": 3, "scale_bits": 24,
                               "clip": 4.0, "max_weight_sum": 1073741824}}

Absent, the mode is "sealed" (every plan written before modes existed). Modes are ordered by
what they hide from the aggregator: "sealed" (it opens every update) < "secagg" (it learns only
the sum). A trainer started with `--require-mode M` refuses a study whose mode is weaker than M
(`PrivacyModeTooWeakError`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from consent.errors import ConsentError
from consent.formats._document import FormatError
from consent.privacy_mode import PrivacyMode
from consent.secagg import RingParams, SecAggError

__all__ = ["PRIVACY_KEY", "PrivacyMode", "PrivacyModeTooWeakError", "PrivacySpec"]

PRIVACY_KEY: Final = "privacy"


class PrivacyModeTooWeakError(ConsentError, ValueError):
    """The study's privacy mode is weaker than the one this party requires.

    Attributes:
        mode: the study's mode.
        required: the mode the party requires.
    """

    def __init__(self, mode: PrivacyMode, required: PrivacyMode) -> None:
        super().__init__(
            f"the study's privacy mode {mode.value!r} is weaker than the required "
            f"{required.value!r}"
        )
        self.mode = mode
        self.required = required


@dataclass(frozen=True, slots=True, kw_only=True)
class PrivacySpec:
    """A study's privacy mode and, for "secagg", its threshold and ring parameters."""

    mode: PrivacyMode = PrivacyMode.SEALED
    threshold: int = 0
    """t of t-of-n ("secagg" only, >= 2)."""
    ring: RingParams = field(default_factory=RingParams)

    def __post_init__(self) -> None:
        if self.mode is PrivacyMode.SECAGG and self.threshold < 2:
            raise FormatError(f"mode secagg needs a threshold >= 2, got {self.threshold}")

    def require(self, required: PrivacyMode) -> None:
        """Raise `PrivacyModeTooWeakError` if this mode is weaker than `required`."""
        if self.mode.strength < required.strength:
            raise PrivacyModeTooWeakError(self.mode, required)

    def to_extension(self) -> dict[str, Any]:
        """The `extensions["privacy"]` value (empty for "sealed": older readers see no change)."""
        if self.mode is PrivacyMode.SEALED:
            return {}
        return {
            "mode": self.mode.value,
            "threshold": self.threshold,
            "scale_bits": self.ring.scale_bits,
            "clip": self.ring.clip,
            "max_weight_sum": self.ring.max_weight_sum,
        }

    @classmethod
    def from_extensions(cls, extensions: Mapping[str, Any]) -> PrivacySpec:
        """Parse a plan's extensions; raises `FormatError` on a bad privacy section."""
        body = extensions.get(PRIVACY_KEY) or {}
        if not isinstance(body, Mapping):
            raise FormatError("extensions.privacy must be an object")
        if not body:
            return cls()
        try:
            mode = PrivacyMode(str(body["mode"]))
            defaults = RingParams()
            ring = RingParams(
                scale_bits=int(body.get("scale_bits", defaults.scale_bits)),
                clip=float(body.get("clip", defaults.clip)),
                max_weight_sum=int(body.get("max_weight_sum", defaults.max_weight_sum)),
            )
            return cls(mode=mode, threshold=int(body.get("threshold", 0)), ring=ring)
        except FormatError:
            raise
        except (KeyError, TypeError, ValueError, SecAggError) as exc:
            raise FormatError(f"bad privacy section in the study plan: {exc!r}") from exc
