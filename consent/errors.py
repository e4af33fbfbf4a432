"""Domain errors shared across layers.

`chain/` raises subclasses of these (decoded from contract reverts) so that `fl/` can react to them
without importing `chain/`.
"""

from __future__ import annotations

from pathlib import Path

from consent.events import EventPosition
from consent.ids import Address

__all__ = [
    "ConflictingEventError",
    "ConsentError",
    "IndexNotSyncedError",
    "KeyFileExistsError",
    "KeystoreError",
    "MalformedProofError",
    "OutOfOrderEventError",
    "PatientInTreeError",
    "PatientNotInTreeError",
    "ReservedAddressError",
    "RoundChangedError",
    "StaleConsentError",
    "UnknownPatientError",
]


class ConsentError(Exception):
    """Root of consent-domain errors."""


class StaleConsentError(ConsentError, RuntimeError):
    """An update was computed on a consent view older than the hospital's last revocation.

    Attributes:
        consent_block: the block the update's consent view was taken at.
        last_revocation_block: the block of the hospital's latest patient revocation.
    """

    def __init__(self, consent_block: int, last_revocation_block: int) -> None:
        super().__init__(
            f"consent view at block {consent_block} is older than the last revocation "
            f"at block {last_revocation_block}"
        )
        self.consent_block = consent_block
        self.last_revocation_block = last_revocation_block


class RoundChangedError(ConsentError, RuntimeError):
    """A round's finalization named fewer (or more) updates than the ledger holds for it: an
    update landed after the aggregator read the round, so the model does not cover it.

    Attributes:
        round: the round being finalized.
        considered: how many updates the aggregator read (accepted or rejected).
        submitted: how many updates the ledger holds for the round.
    """

    def __init__(self, round_: int, considered: int, submitted: int) -> None:
        super().__init__(
            f"round {round_}: the model considers {considered} update(s) but {submitted} "
            "are on the ledger"
        )
        self.round = round_
        self.considered = considered
        self.submitted = submitted


# --- keys -------------------------------------------------------------------------------------


class KeystoreError(ConsentError, ValueError):
    """A key file that cannot be read: wrong password, corrupt or unsupported content."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class KeyFileExistsError(ConsentError, FileExistsError):
    """Refusing to overwrite an existing key file (pass `overwrite=True` to replace it)."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"refusing to overwrite existing key file {path}")
        self.path = path


# --- consent index ----------------------------------------------------------------------------


class UnknownPatientError(ConsentError, KeyError):
    """Patients the index has no consent event for in the study (their data must be refused)."""

    def __init__(self, patients: tuple[str, ...]) -> None:
        super().__init__(patients)
        self.patients = patients

    def __str__(self) -> str:
        shown = ", ".join(self.patients[:5])
        more = f" and {len(self.patients) - 5} more" if len(self.patients) > 5 else ""
        return f"{len(self.patients)} unknown patient(s): {shown}{more}"


class OutOfOrderEventError(ConsentError, ValueError):
    """An event that is not after the last applied one, or lies in a block already marked synced."""

    def __init__(
        self, position: EventPosition, last: EventPosition | None, synced_block: int
    ) -> None:
        super().__init__(
            f"event at {position} arrives out of order (last applied {last}, "
            f"synced through block {synced_block})"
        )
        self.position = position
        self.last = last
        self.synced_block = synced_block


class ConflictingEventError(ConsentError, ValueError):
    """A re-applied event whose content differs from the one stored at the same position."""

    def __init__(self, position: EventPosition) -> None:
        super().__init__(f"a different event is already stored at {position}")
        self.position = position


class IndexNotSyncedError(ConsentError, LookupError):
    """A question about a block the index is not synced through, or a sync going backwards."""

    def __init__(self, block: int, synced_block: int) -> None:
        super().__init__(
            f"block {block} is not covered: the index is synced through block {synced_block}"
        )
        self.block = block
        self.synced_block = synced_block


# --- Merkle commitments -----------------------------------------------------------------------


class ReservedAddressError(ConsentError, ValueError):
    """A sentinel address (0x00..00 or 0xff..ff) given as a patient."""

    def __init__(self, address: Address) -> None:
        super().__init__(f"{address} is a reserved sentinel and cannot be a patient")
        self.address = address


class PatientNotInTreeError(ConsentError, KeyError):
    """A membership proof asked for a patient the tree does not contain."""

    def __init__(self, patient: Address) -> None:
        super().__init__(patient)
        self.patient = patient

    def __str__(self) -> str:
        return f"patient {self.patient} is not in the tree"


class PatientInTreeError(ConsentError, ValueError):
    """A non-membership proof asked for a patient the tree does contain."""

    def __init__(self, patient: Address) -> None:
        super().__init__(f"patient {patient} is in the tree: no non-membership proof exists")
        self.patient = patient


class MalformedProofError(ConsentError, ValueError):
    """A serialized proof that does not have the expected shape."""
