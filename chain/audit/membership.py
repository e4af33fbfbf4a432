"""`membership`: each update came from a hospital that was a member of the study when it was
submitted (replayed from `HospitalAdded` / `HospitalRemoved` up to the `UpdateSubmitted` event)."""

from __future__ import annotations

from typing import Final

from chain.audit.report import AuditCheck
from chain.audit.view import AuditView
from chain.events import HospitalAdded

__all__ = ["Membership"]


class Membership:
    """One check per update on chain."""

    name: Final = "membership"

    def run(self, view: AuditView) -> list[AuditCheck]:
        """See the module docstring; an update without a submission event fails."""
        checks: list[AuditCheck] = []
        for round_ in view.rounds:
            for update in view.updates(round_.round):
                position = view.submission(round_.round, update.hospital)
                member = False
                for event in view.membership_events:
                    if position is None or event.position > position:
                        break
                    if event.hospital == update.hospital:
                        member = isinstance(event, HospitalAdded)
                if position is None:
                    detail = "no UpdateSubmitted event for this update"
                elif member:
                    detail = "submitted by a member hospital"
                else:
                    detail = (
                        "submitted by a hospital that was not a member of the study at the time"
                    )
                checks.append(
                    AuditCheck(self.name, member, "update", detail, round_.round, update.hospital)
                )
        return checks
