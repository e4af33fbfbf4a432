"""`freshness`: each update's consent block is not after its submission and not older than the
last revocation among the hospital's patients before it was submitted (the contract's rule,
re-checked from the events)."""

from __future__ import annotations

from typing import Final

from chain.audit.report import AuditCheck
from chain.audit.view import AuditView
from consent.events import ConsentRevoked, EventPosition
from consent.rounds import UpdateRecord

__all__ = ["Freshness"]


class Freshness:
    """One check per update on chain."""

    name: Final = "freshness"

    def run(self, view: AuditView) -> list[AuditCheck]:
        """See the module docstring."""
        return [
            self._one(view, round_.round, update)
            for round_ in view.rounds
            for update in view.updates(round_.round)
        ]

    def _one(self, view: AuditView, round_: int, update: UpdateRecord) -> AuditCheck:
        def result(passed: bool, detail: str) -> AuditCheck:
            return AuditCheck(self.name, passed, "update", detail, round_, update.hospital)

        position = view.submission(round_, update.hospital)
        if position is None:
            return result(False, "no UpdateSubmitted event for this update")
        if update.consent_block > position.block_number:
            return result(
                False,
                f"consent block {update.consent_block} is after submission block "
                f"{position.block_number}",
            )
        last_revocation = _last_revocation(view, update, position)
        if update.consent_block < last_revocation:
            return result(
                False,
                f"consent view at block {update.consent_block} predates a revocation at block "
                f"{last_revocation}",
            )
        return result(True, f"consent view at block {update.consent_block} was current")


def _last_revocation(view: AuditView, update: UpdateRecord, submitted: EventPosition) -> int:
    """The block of the hospital's last revocation before the submission (0 if none)."""
    return max(
        (
            e.position.block_number
            for e in view.consent_events
            if isinstance(e, ConsentRevoked)
            and e.hospital == update.hospital
            and e.position < submitted
        ),
        default=0,
    )
