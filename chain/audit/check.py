"""What one audit check is: a name and `run(view) -> list[AuditCheck]` over a read-only view."""

from __future__ import annotations

from typing import Protocol

from chain.audit.report import AuditCheck
from chain.audit.view import AuditView

__all__ = ["Check", "hexed"]


class Check(Protocol):
    """One independent audit check; every `AuditCheck` it returns carries its `name`."""

    @property
    def name(self) -> str:
        """The check's name in reports (e.g. `freshness`)."""
        ...

    def run(self, view: AuditView) -> list[AuditCheck]:
        """Every fact this check verified in `view`, passed or failed."""
        ...


def hexed(value: bytes) -> str:
    """`0x`-prefixed hex, as reports show hashes and roots."""
    return "0x" + bytes(value).hex()
