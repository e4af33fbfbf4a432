"""`exclusion`: for every patient who revoked consent given to a hospital (and did not grant it
to that hospital again) by an update's consent block, that update has a published
non-membership proof that verifies against its on-chain `dataRoot`. Unreadable proof files fail.

Expiry counts like revocation: a patient whose consent with the hospital had expired by the block
the update landed in (the grant's `expiresAt` <= that block's timestamp) needs the same proof.
Expired consent leaves no event: the check computes it from the grant's `expiresAt`. So does a
validity period that had not started (`validFrom` after that block's timestamp).

An uncovered purpose counts like revocation too: a patient whose last word to the hospital by the
consent block was a grant whose DUO purposes do not cover the study's declared purpose, or a
withdrawal of purposes leaving none that do (`consent.purposes`), needs the same proof."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from itertools import pairwise
from typing import Final

from chain.audit.check import hexed
from chain.audit.report import AuditCheck
from chain.audit.view import AuditView
from consent.errors import MalformedProofError
from consent.events import ConsentGranted, ConsentRevoked, PurposesRevoked
from consent.ids import Address
from consent.purposes import StudyPurpose
from consent.rounds import UpdateRecord
from consent.smt import verify_non_membership

__all__ = ["Exclusion"]


class Exclusion:
    """One check per (update, patient it must exclude), and one per unreadable proof file."""

    name: Final = "exclusion"

    def run(self, view: AuditView) -> list[AuditCheck]:
        """See the module docstring."""
        checks: list[AuditCheck] = []
        folds = _Folds(view)
        for round_ in view.rounds:
            for update in view.updates(round_.round):
                checks.extend(self._update(view, folds, round_.round, update))
        checks.extend(
            AuditCheck(self.name, False, error.source, f"unreadable proof file: {error.reason}")
            for error in view.proof_errors
        )
        return checks

    def _update(
        self, view: AuditView, folds: _Folds, round_: int, update: UpdateRecord
    ) -> list[AuditCheck]:
        checks: list[AuditCheck] = []
        root = hexed(update.data_root)
        submitted_at = view.submitted_at(round_, update.hospital)
        for patient, why in folds.must_exclude(update, submitted_at).values():
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


Excluded = dict[str, tuple[Address, str]]


@dataclass(frozen=True, slots=True)
class _Fold:
    """The consent events up to a cut, folded for one hospital: the patients whose last word to
    it was a revocation or an uncovered purpose, and the grants that are its patients' last
    word (any hospital's), in the order a single pass meets them."""

    excluded: Excluded
    grants: tuple[tuple[str, ConsentGranted], ...]


class _Folds:
    """`must_exclude` per update, folding the consent events once per (events up to the
    update's consent block, hospital) rather than once per update: the consent history is
    usually all before the rounds, and an audit of R rounds and H hospitals otherwise walks it
    R x H times (the audit's largest cost on anvil after the log decoding)."""

    def __init__(self, view: AuditView) -> None:
        self._events = view.consent_events
        self._purpose = view.study_purpose
        self._blocks = [e.position.block_number for e in self._events]
        self._ordered = all(a <= b for a, b in pairwise(self._blocks))
        self._folds: dict[tuple[int, Address], _Fold] = {}

    def _cut(self, consent_block: int) -> int:
        """How many events a pass stops after: those before the first past `consent_block`."""
        if self._ordered:
            return bisect_right(self._blocks, consent_block)
        return next((i for i, b in enumerate(self._blocks) if b > consent_block), len(self._blocks))

    def must_exclude(self, update: UpdateRecord, submitted_at: int | None) -> Excluded:
        """Patients (lowercase -> address, why) the update must leave out: the hospital's
        patients whose last word by the update's consent block was a revocation or did not cover
        the study's purpose, or whose grant to the hospital was outside its validity period when
        the update landed (unknown landing time: any expiry or later start)."""
        key = (self._cut(update.consent_block), update.hospital)
        fold = self._folds.get(key)
        if fold is None:
            fold = self._folds[key] = self._fold(*key)
        excluded = dict(fold.excluded)
        for patient, grant in fold.grants:
            if _outside_validity(grant, submitted_at):
                excluded.setdefault(patient, (grant.patient, "expired"))
        return excluded

    def _fold(self, cut: int, hospital: Address) -> _Fold:
        excluded: Excluded = {}
        latest: dict[str, ConsentGranted | ConsentRevoked] = {}
        for event in self._events[:cut]:
            key = event.patient.lower()
            if not isinstance(event, PurposesRevoked):
                latest[key] = event
            if event.hospital != hospital:
                continue
            if isinstance(event, ConsentRevoked):
                excluded[key] = (event.patient, "revoked")
            elif not _covers(self._purpose, _mask(event)):
                excluded[key] = (event.patient, "uncovered")
            elif isinstance(event, ConsentGranted):
                excluded.pop(key, None)
        grants = tuple(
            (key, event)
            for key, event in latest.items()
            if isinstance(event, ConsentGranted) and event.hospital == hospital
        )
        return _Fold(excluded, grants)


def _mask(event: ConsentGranted | PurposesRevoked) -> int:
    return event.purposes if isinstance(event, ConsentGranted) else event.remaining


def _covers(purpose: StudyPurpose | None, mask: int) -> bool:
    return purpose is None or purpose.covers_mask(mask)


def _outside_validity(grant: ConsentGranted, submitted_at: int | None) -> bool:
    if submitted_at is None:
        return grant.expires_at != 0 or grant.valid_from != 0
    expired = grant.expires_at != 0 and grant.expires_at <= submitted_at
    return expired or grant.valid_from > submitted_at
