"""What the audit found: one `AuditCheck` per verified fact, gathered in an `AuditReport`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from consent.ids import Address, StudyId

__all__ = ["AuditCheck", "AuditReport"]


@dataclass(frozen=True, slots=True)
class AuditCheck:
    """One verified fact; on failure `detail` says what is wrong."""

    check: str
    passed: bool
    subject: str
    detail: str
    round: int | None = None
    hospital: Address | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "check": self.check,
            "passed": self.passed,
            "round": self.round,
            "hospital": self.hospital,
            "subject": self.subject,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class AuditReport:
    """Everything the verifier checked for one study, up to `block`."""

    study: StudyId
    block: int
    rounds: int
    checks: tuple[AuditCheck, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        """True when every check passed."""
        return all(check.passed for check in self.checks)

    @property
    def failures(self) -> tuple[AuditCheck, ...]:
        """The checks that failed."""
        return tuple(check for check in self.checks if not check.passed)

    def to_json(self) -> dict[str, Any]:
        """`{"passed": bool, "checks": [...]}` plus the study, block and round count."""
        return {
            "passed": self.passed,
            "study": "0x" + bytes(self.study).hex(),
            "block": self.block,
            "rounds": self.rounds,
            "checks": [check.to_json() for check in self.checks],
        }
