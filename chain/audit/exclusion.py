"""`exclusion`: for every patient who revoked consent given to a hospital (and did not grant it
to that hospital again) by an update's consent block, that update has a published
non-membership proof that verifies against its on-chain `dataRoot`. Unreadable proof files fail.

Expired (not revoked) consent leaves no event and is outside this check."""

from __future__ import annotations

from typing import Final

from chain.audit.check import hexed
from chain.audit.report import AuditCheck
from chain.audit.view import AuditView
from consent.errors import MalformedProofError
from consent.events import ConsentRevoked
from consent.ids import Address
from consent.merkle import verify_non_membership
from consent.rounds import UpdateRecord

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
        for patient in _revoked_by(view, update).values():
            proof = view.proof(update.hospital, update.data_root, patient)
            if proof is None:
                passed, detail = False, f"no non-membership proof against dataRoot {root}"
            elif isinstance(proof, MalformedProofError):
                passed, detail = False, f"malformed non-membership proof: {proof}"
            elif verify_non_membership(update.data_root, patient, proof):
                passed, detail = True, f"absent from dataRoot {root}"
            else:
                passed, detail = False, f"proof does not verify against dataRoot {root}"
            subject = f"revoked patient {patient}"
            checks.append(AuditCheck(self.name, passed, subject, detail, round_, update.hospital))
        return checks


def _revoked_by(view: AuditView, update: UpdateRecord) -> dict[str, Address]:
    """The hospital's patients whose last word by the update's consent block was a revocation."""
    revoked: dict[str, Address] = {}
    for event in view.consent_events:
        if event.position.block_number > update.consent_block:
            break
        if event.hospital != update.hospital:
            continue
        if isinstance(event, ConsentRevoked):
            revoked[event.patient.lower()] = event.patient
        else:
            revoked.pop(event.patient.lower(), None)
    return revoked
