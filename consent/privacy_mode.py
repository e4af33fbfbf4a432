"""`PrivacyMode`, the study plan's privacy mode, on its own: the CLI names it in an option, and
importing it must not load the ring arithmetic of `consent.formats.privacy` (numpy)."""

from __future__ import annotations

from enum import StrEnum
from typing import Final

__all__ = ["PrivacyMode"]


class PrivacyMode(StrEnum):
    """What the aggregator may see of one hospital's update."""

    SEALED = "sealed"
    SECAGG = "secagg"

    @property
    def strength(self) -> int:
        """Rank in the order `sealed < secagg`."""
        return _STRENGTH[self]


_STRENGTH: Final = {PrivacyMode.SEALED: 0, PrivacyMode.SECAGG: 1}
