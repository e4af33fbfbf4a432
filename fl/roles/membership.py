"""A hospital's check that it is a member of the study it trains for.

The trainer (`fl.roles.trainer`) reads the members before its first round; once it has been a
member it reads them again while it syncs consent and fetches the base model (issue 19: one
chain wait fewer before training), the sync running on the study purpose it read before: the
registry locks a study's purpose when it admits a hospital, so it cannot have changed. In dp mode
the members are still read first, before the budget check. The contract refuses the update of a
hospital that is no longer a member whichever way it was read."""

from __future__ import annotations

from consent.ids import Address, StudyId
from consent.records import StudyRecord
from fl.ports import LedgerPort
from fl.roles.errors import RoleError

__all__ = ["member_study"]


def member_study(ledger: LedgerPort, study: StudyId, hospital: Address) -> StudyRecord:
    """`study`'s record, read now; `RoleError` when `hospital` is not among its members."""
    record = ledger.study(study)
    if hospital not in record.hospitals:
        raise RoleError(f"{hospital} is not a member hospital of the study")
    return record
