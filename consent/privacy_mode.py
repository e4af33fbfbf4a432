"""`PrivacyMode`, the study plan's one privacy mode field, on its own: the CLI names it in an
option, and importing it must not load the ring arithmetic of `consent.formats.privacy` (numpy).

Each mode is a set of protections: "sum-only" (the aggregator learns only the sum of the
updates, secure aggregation) and "record-dp" (each hospital's update is differentially private
at the record level, DP-SGD, with a budget on chain). The modes are partially ordered by
inclusion of those sets:

    sealed  <  secagg  <  dp+secagg
    sealed  <  dp      <  dp+secagg

`secagg` and `dp` are incomparable: neither gives what the other does. A party that requires a
mode accepts a study whose mode includes every protection of the required one
(`PrivacyMode.satisfies`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

__all__ = ["RECORD_DP", "SUM_ONLY", "PrivacyMode"]

SUM_ONLY: Final = "sum-only"
"""The aggregator learns only the sum of the hospitals' updates (secure aggregation)."""
RECORD_DP: Final = "record-dp"
"""Each hospital's update is record-level differentially private, its budget charged on chain."""


class PrivacyMode(StrEnum):
    """What the aggregator and the model may reveal of one hospital's records."""

    SEALED = "sealed"
    SECAGG = "secagg"
    DP = "dp"
    DP_SECAGG = "dp+secagg"

    @property
    def protections(self) -> frozenset[str]:
        """The protections this mode gives (`SUM_ONLY`, `RECORD_DP`)."""
        return _PROTECTIONS[self]

    @property
    def secagg(self) -> bool:
        """Whether updates are masked and only their sum is recovered."""
        return SUM_ONLY in self.protections

    @property
    def dp(self) -> bool:
        """Whether the hospitals train with DP and are charged on chain."""
        return RECORD_DP in self.protections

    def satisfies(self, required: PrivacyMode) -> bool:
        """Whether this mode gives every protection `required` gives."""
        return required.protections <= self.protections


_PROTECTIONS: Final = {
    PrivacyMode.SEALED: frozenset(),
    PrivacyMode.SECAGG: frozenset({SUM_ONLY}),
    PrivacyMode.DP: frozenset({RECORD_DP}),
    PrivacyMode.DP_SECAGG: frozenset({SUM_ONLY, RECORD_DP}),
}
