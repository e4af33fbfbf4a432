"""`proof-files`: every published exclusion proof is checked on its own, none shadows another.

The `exclusion` check asks, per update and patient it must leave out, whether a proof exists and
verifies; it looks proofs up by (hospital, data root, patient). That alone lets a published
file hide: one whose `data_root` was edited, or that does not verify, goes unnoticed while
another file covers the same root, and of two files with the same key only one is looked at.
This check walks every file of the study instead and records a failure for each that

* names a data root that is no data root of that hospital on chain (edited, or for an update
  that never landed; when the file names a round, the root must be that round's);
* does not verify as a non-membership proof of its patient against its data root (or is
  malformed);
* shares its (hospital, data root, patient) with another file of different content (two
  versions of one proof: which one the hospital meant is not the auditor's guess).

A file that passes all three is recorded as passed.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Final

from chain.audit.check import hexed
from chain.audit.report import AuditCheck
from chain.audit.view import AuditView
from chain.exclusions import PublishedProof
from consent.errors import MalformedProofError
from consent.ids import Address
from consent.smt import verify_non_membership

__all__ = ["ProofFiles"]


class ProofFiles:
    """One finding per published proof file of the study."""

    name: Final = "proof-files"

    def run(self, view: AuditView) -> list[AuditCheck]:
        """See the module docstring."""
        roots: dict[tuple[str, bytes], set[int]] = defaultdict(set)
        for round_ in view.rounds:
            for update in view.updates(round_.round):
                roots[(update.hospital.lower(), bytes(update.data_root))].add(round_.round)
        by_key: dict[tuple[str, bytes, str], list[PublishedProof]] = defaultdict(list)
        for published in view.proof_files:
            by_key[(published.hospital, published.data_root, published.patient)].append(published)
        return [
            self._file(
                published,
                roots,
                by_key[(published.hospital, published.data_root, published.patient)],
            )
            for published in view.proof_files
        ]

    def _file(
        self,
        published: PublishedProof,
        roots: dict[tuple[str, bytes], set[int]],
        same_key: list[PublishedProof],
    ) -> AuditCheck:
        problem = _problem(published, roots, same_key)
        detail = problem or (
            f"patient {published.patient} absent from on-chain dataRoot "
            f"{hexed(published.data_root)}"
        )
        return AuditCheck(
            self.name,
            problem is None,
            published.source,
            detail,
            published.round,
            Address(published.hospital),
        )


def _problem(
    published: PublishedProof,
    roots: dict[tuple[str, bytes], set[int]],
    same_key: list[PublishedProof],
) -> str | None:
    root = hexed(published.data_root)
    rounds = roots.get((published.hospital, published.data_root), set())
    if not rounds:
        return f"dataRoot {root} is no data root of this hospital on chain"
    if published.round is not None and published.round not in rounds:
        return f"dataRoot {root} is not the hospital's root in round {published.round}"
    if isinstance(published.entry, MalformedProofError):
        return f"malformed proof: {published.entry}"
    if not verify_non_membership(published.data_root, published.patient, published.entry):
        return f"proof does not verify patient {published.patient} absent from dataRoot {root}"
    others = [o.source for o in same_key if o.digest != published.digest]
    if others:
        return f"another file publishes a different proof for the same root and patient: {others}"
    return None
