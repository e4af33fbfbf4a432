"""A hospital's check that it is a member of the study it trains for.

The trainer (`fl.roles.trainer`) reads the members before its first round; once it has been a
member it reads them again while it syncs consent and fetches the base model (issue 19: one
chain wait fewer before training), the sync running on the study purpose it read before: the
registry locks a study's purpose when it admits a hospital, so it cannot have changed. In dp mode
the members are still read first, before the budget check. The contract refuses the update of a
hospital that is no longer a member whichever way it was read."""

from __future__ import annotations

from collections.abc import Callable

from consent.ids import Address, StudyId
from consent.records import StudyRecord
from fl.ports import LedgerPort
from fl.roles.errors import RoleError

__all__ = ["Membership", "member_study"]


def member_study(ledger: LedgerPort, study: StudyId, hospital: Address) -> StudyRecord:
    """`study`'s record, read now; `RoleError` when `hospital` is not among its members."""
    record = ledger.study(study)
    if hospital not in record.hospitals:
        raise RoleError(f"{hospital} is not a member hospital of the study")
    return record


class Membership:
    """One hospital's view of its study's members across rounds (see the module docstring)."""

    def __init__(self, ledger: LedgerPort, study: StudyId) -> None:
        self._ledger, self._study = ledger, study  # the hospital: the ledger's sender
        self._known: StudyRecord | None = None  # the study last read with this hospital in it

    def _read(self) -> StudyRecord:
        return member_study(self._ledger, self._study, self._ledger.sender)

    def start(self, *, read_first: bool) -> tuple[StudyRecord, Callable[[], StudyRecord]]:
        """The study record a round starts on, and what to call while its consent sync runs for
        the record it keeps: before the first round (or with `read_first`) the members are read
        now and that record is kept; afterwards the last record starts the round and the
        members are read again meanwhile. `RoleError` from whichever read finds this hospital
        gone."""
        known = None if read_first else self._known
        if known is None:
            study = self._read()
            return study, lambda: study
        return known, self._read

    def confirm(self, study: StudyRecord) -> None:
        """`study` is the record the round went on with (this hospital among its members)."""
        self._known = study
