"""`exclusion`: for every patient who revoked consent given to a hospital (and did not grant it
to that hospital again) by an update's consent block, that update has a published
non-membership proof that verifies against its on-chain `dataRoot`. Unreadable proof files fail.

Expiry counts like revocation: a patient whose consent with the hospital had expired by the block
the update landed in (the grant's `expiresAt` <= that block's timestamp) needs the same proof.
Expired consent leaves no event: the check computes it from the grant's `expiresAt`."""

from __future__ import annotations

from typing import Final

from chain.audit.check import hexed
from chain.audit.report import AuditCheck
from chain.audit.view import AuditView
from consent.errors import MalformedProofError
from consent.events import ConsentGranted, ConsentRevoked
from consent.ids import Address
from consent.rounds import UpdateRecord
from consent.smt import verify_non_membership

__all__ = ["Exclusion"]


class Exclusion:
    """One check per (update, patient it must exclude), and one per unreadable proof file."""

    name: Final = "exclusion"

    def run(self, view: AuditView) -> list[AuditCheck]:
        """See the module docstring."""
        checks: list[AuditCheck] = []
        for round_ in view.rounds:
            for update in view.updates(round_.round):
                checks.extend(self._update(view, round_.round, update))
        checks.extend(
            AuditCheck(self.name, False, error.source, f"unreadable proof file: {error.reason}")
            for error in view.proof_errors
        )
        return checks

    def _update(self, view: AuditView, round_: int, update: UpdateRecord) -> list[AuditCheck]:
        checks: list[AuditCheck] = []
        root = hexed(update.data_root)
        submitted_at = view.submitted_at(round_, update.hospital)
        for patient, why in _must_exclude(view, update, submitted_at).values():
            proof = view.proof(update.hospital, update.data_root, patient)
            if proof is None:
                passed, detail = False, f"no non-membership proof against dataRoot {root}"
            elif isinstance(proof, MalformedProofError):
                passed, detail = False, f"malformed non-membership proof: {proof}"
            elif verify_non_membership(update.data_root, patient, proof):
                passed, detail = True, f"absent from dataRoot {root}"
            else:
                passed, detail = False, f"proof does not verify against dataRoot {root}"
            subject = f"{why} patient {patient}"
            checks.append(AuditCheck(self.name, passed, subject, detail, round_, update.hospital))
        return checks


def _must_exclude(
    view: AuditView, update: UpdateRecord, submitted_at: int | None
) -> dict[str, tuple[Address, str]]:
    """Patients (lowercase -> address, why) the update must leave out: the hospital's patients
    whose last word by the update's consent block was a revocation, or whose grant to the
    hospital had expired by the time the update landed (unknown landing time: any expiry)."""
    excluded: dict[str, tuple[Address, str]] = {}
    latest: dict[str, ConsentGranted | ConsentRevoked] = {}
    for event in view.consent_events:
        if event.position.block_number > update.consent_block:
            break
        latest[event.patient.lower()] = event
        if event.hospital != update.hospital:
            continue
        if isinstance(event, ConsentRevoked):
            excluded[event.patient.lower()] = (event.patient, "revoked")
        else:
            excluded.pop(event.patient.lower(), None)
    for key, event in latest.items():
        if (
            isinstance(event, ConsentGranted)
            and event.hospital == update.hospital
            and event.expires_at != 0
            and (submitted_at is None or event.expires_at <= submitted_at)
        ):
            excluded[key] = (event.patient, "expired")
    return excluded
