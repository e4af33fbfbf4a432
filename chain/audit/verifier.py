"""`AuditVerifier`: read a study's history once into a read-only view, run every check over it."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from chain.audit.check import Check, hexed
from chain.audit.registry import DEFAULT_CHECKS
from chain.audit.report import AuditCheck, AuditReport
from chain.audit.view import AuditView, LedgerView
from chain.deploy import Ledger
from chain.errors import ChainError
from chain.exclusions import ExclusionProofs
from chain.store import ArtifactReader
from consent.ids import StudyId

__all__ = ["AuditVerifier", "MisnamedCheckError", "run_checks"]

logger = logging.getLogger(__name__)


class MisnamedCheckError(ChainError, RuntimeError):
    """A check returned a finding under another check's name (a programming error)."""


def run_checks(view: AuditView, checks: Sequence[Check] = DEFAULT_CHECKS) -> AuditReport:
    """Run `checks` over `view`, in order, into one report."""
    found: list[AuditCheck] = []
    for check in checks:
        results = check.run(view)
        if wrong := [r.check for r in results if r.check != check.name]:
            raise MisnamedCheckError(f"check {check.name} reported as {sorted(set(wrong))}")
        found.extend(results)
    return AuditReport(
        study=view.study, block=view.block, rounds=len(view.rounds), checks=tuple(found)
    )


class AuditVerifier:
    """Checks a study on one deployment against an artifact store and published proofs."""

    def __init__(
        self,
        ledger: Ledger,
        store: ArtifactReader,
        proofs: ExclusionProofs | None = None,
        *,
        checks: Sequence[Check] = DEFAULT_CHECKS,
    ) -> None:
        self._ledger = ledger  # only `LedgerView.read` touches it, and it only reads
        self._store = store
        self._proofs = proofs if proofs is not None else ExclusionProofs()
        self._checks = tuple(checks)

    def verify(self, study: StudyId) -> AuditReport:
        """Check every round of `study`.

        Raises `UnknownStudyError` if it does not exist, `ChainUnavailableError` or
        `StoreUnavailableError` when a node is down; failed checks are data in the report.
        """
        view = LedgerView.read(self._ledger, self._store, self._proofs, study)
        report = run_checks(view, self._checks)
        logger.info(
            "audit of %s: %d checks, %d failed",
            hexed(study),
            len(report.checks),
            len(report.failures),
        )
        return report
