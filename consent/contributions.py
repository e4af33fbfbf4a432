"""What the Contributions contract records per finalized round (issue 15): a digest of the
round's judgement and each hospital's contribution value as a fixed-point integer.

The contract sums the values per (study, hospital) into the cumulative value a reward is paid on,
so the values cross from the aggregator (`fl/`) to the chain (`chain/`) and back to the audit as
this one value object. Values are signed fixed-point with 18 decimals (`VALUE_SCALE`, the
contract's `VALUE_SCALE`); hospitals are listed in ascending address order, as the contract
requires (so a duplicate cannot be added twice).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from consent.errors import ConsentError
from consent.ids import Address, Bytes32, parse_address

__all__ = ["VALUE_SCALE", "ContributionRecord", "InvalidContributionError", "scaled_value"]

VALUE_SCALE: Final = 10**18
"""Fixed-point scale of on-chain values (the contract's `VALUE_SCALE`)."""

_INT256_MAX: Final = 2**255 - 1


class InvalidContributionError(ConsentError, ValueError):
    """A value that is not finite or does not fit the contract's int256."""


def scaled_value(value: float) -> int:
    """`value` as the contract stores it: round(value * 1e18), refusing non-finite values."""
    if not math.isfinite(value):
        raise InvalidContributionError(f"contribution value {value!r} is not finite")
    scaled = round(value * VALUE_SCALE)
    if abs(scaled) > _INT256_MAX:
        raise InvalidContributionError(f"contribution value {value!r} does not fit int256")
    return scaled


@dataclass(frozen=True, slots=True)
class ContributionRecord:
    """One finalized round's on-chain contribution record."""

    judgement_hash: Bytes32
    """SHA-256 of the round's decisions and values (`RoundMetrics.judgement_digest`)."""
    hospitals: tuple[Address, ...] = ()
    """In ascending address order."""
    values: tuple[int, ...] = ()
    """`hospitals[i]`'s value, scaled by `VALUE_SCALE`."""

    def __post_init__(self) -> None:
        if len(self.hospitals) != len(self.values):
            raise InvalidContributionError("one value per hospital")
        keys = [int(h, 16) for h in self.hospitals]
        if keys != sorted(set(keys)):
            raise InvalidContributionError("hospitals must be distinct and in ascending order")

    @classmethod
    def of(cls, judgement_hash: bytes, values: Mapping[str, float]) -> ContributionRecord:
        """The record of a round whose values are `values` (hospital -> value)."""
        ordered = sorted(
            ((parse_address(h), v) for h, v in values.items()), key=lambda e: int(e[0], 16)
        )
        return cls(
            Bytes32(bytes(judgement_hash)),
            tuple(h for h, _ in ordered),
            tuple(scaled_value(v) for _, v in ordered),
        )

    def as_dict(self) -> dict[Address, int]:
        """Hospital -> scaled value."""
        return dict(zip(self.hospitals, self.values, strict=True))
