"""The study plan's privacy mode: ONE field, `extensions["privacy"]` of the plan document, with
the parameters of the mode beside it.

    "extensions": {"privacy": {"mode": "dp+secagg", "threshold": 3, "scale_bits": 24,
                               "clip": 4.0, "max_weight_sum": 1073741824,
                               "dp": {"epsilon": 3.0, "delta": 1e-5, ...}}}

Modes (`consent.privacy_mode.PrivacyMode`): "sealed" (the aggregator opens every update),
"secagg" (it learns only the sum: `threshold` and the ring parameters), "dp" (record-level
DP-SGD at each hospital, the budget charged on chain: `dp`, `consent.privacy.DpTerms`) and
"dp+secagg" (both). A trainer started with `--require-mode M` refuses a study whose mode lacks a
protection of M (`PrivacyModeTooWeakError`; the order is in `consent.privacy_mode`).

Migration: the section absent means "sealed" (every plan written before modes existed). Plans
written before the single field kept the DP terms in a separate `extensions["dp"]`; such a plan
reads as mode "dp" with those terms (its section, if any, must then be empty: a legacy plan with
both a "secagg" section and `extensions["dp"]` is refused, as its writer refused it). Writers
write the single field only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from consent.errors import ConsentError
from consent.formats._document import FormatError
from consent.privacy import DP_EXTENSION, DpTerms, DpTermsError
from consent.privacy_mode import PrivacyMode
from consent.secagg import RingParams, SecAggError

__all__ = [
    "PRIVACY_KEY",
    "PrivacyMode",
    "PrivacyModeTooWeakError",
    "PrivacySpec",
]

PRIVACY_KEY: Final = "privacy"


class PrivacyModeTooWeakError(ConsentError, ValueError):
    """The study's privacy mode lacks a protection of the mode this party requires.

    Attributes:
        mode: the study's mode.
        required: the mode the party requires.
    """

    def __init__(self, mode: PrivacyMode, required: PrivacyMode) -> None:
        missing = ", ".join(sorted(required.protections - mode.protections))
        super().__init__(
            f"the study's privacy mode {mode.value!r} is weaker than the required "
            f"{required.value!r} (it lacks: {missing})"
        )
        self.mode = mode
        self.required = required


@dataclass(frozen=True, slots=True, kw_only=True)
class PrivacySpec:
    """A study's privacy mode and its parameters: for secure aggregation its threshold and ring
    parameters, for DP its terms (`dp`, None in the modes without DP)."""

    mode: PrivacyMode = PrivacyMode.SEALED
    threshold: int = 0
    """t of t-of-n ("secagg" and "dp+secagg" only, >= 2)."""
    ring: RingParams = field(default_factory=RingParams)
    dp: DpTerms | None = None
    """The DP terms ("dp" and "dp+secagg" only)."""

    def __post_init__(self) -> None:
        if self.mode.secagg and self.threshold < 2:
            raise FormatError(
                f"mode {self.mode.value} needs a threshold >= 2, got {self.threshold}"
            )
        if self.mode.dp and self.dp is None:
            raise FormatError(f"mode {self.mode.value} needs its dp terms")
        if not self.mode.dp and self.dp is not None:
            raise FormatError(f"mode {self.mode.value} takes no dp terms (use dp or dp+secagg)")
        if self.mode.secagg and self.dp is not None and self.dp.level != "record":
            raise FormatError(
                f"mode {self.mode.value} takes record-level dp only: client-level noise added at "
                "aggregation needs each update in the clear"
            )

    def require(self, required: PrivacyMode) -> None:
        """Raise `PrivacyModeTooWeakError` if this mode lacks a protection of `required`."""
        if not self.mode.satisfies(required):
            raise PrivacyModeTooWeakError(self.mode, required)

    def to_extension(self) -> dict[str, Any]:
        """The `extensions["privacy"]` value (empty for "sealed": older readers see no change)."""
        if self.mode is PrivacyMode.SEALED:
            return {}
        body: dict[str, Any] = {"mode": self.mode.value}
        if self.mode.secagg:
            body |= {
                "threshold": self.threshold,
                "scale_bits": self.ring.scale_bits,
                "clip": self.ring.clip,
                "max_weight_sum": self.ring.max_weight_sum,
            }
        if self.dp is not None:
            body["dp"] = self.dp.to_json_dict()
        return body

    @classmethod
    def from_extensions(cls, extensions: Mapping[str, Any]) -> PrivacySpec:
        """Parse a plan's extensions (legacy `extensions["dp"]` included, see the module
        docstring); raises `FormatError` on a bad privacy section."""
        body = extensions.get(PRIVACY_KEY) or {}
        if not isinstance(body, Mapping):
            raise FormatError("extensions.privacy must be an object")
        legacy = extensions.get(DP_EXTENSION)
        if legacy is not None:
            if body:
                raise FormatError(
                    "the plan has both a privacy section and a legacy extensions.dp: write the dp "
                    "terms in extensions.privacy.dp with mode dp or dp+secagg"
                )
            body = {"mode": PrivacyMode.DP.value, "dp": legacy}
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
            terms = body.get("dp")
            if terms is not None and not isinstance(terms, Mapping):
                raise FormatError("extensions.privacy.dp must be an object")
            dp = None if terms is None else DpTerms.from_json_dict(terms)
            return cls(mode=mode, threshold=int(body.get("threshold", 0)), ring=ring, dp=dp)
        except FormatError:
            raise
        except (KeyError, TypeError, ValueError, SecAggError, DpTermsError) as exc:
            raise FormatError(f"bad privacy section in the study plan: {exc!r}") from exc
