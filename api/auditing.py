"""Wiring for the auditor's key-holding audits: the `recompute` check and `audit replay`.

Both need the study plan (read by the CID the chain records; the store checks the bytes against
the CID) and an auditor's X25519 private key (a key file as `consentfl audit keygen` writes it,
whose public half the coordinator listed in the plan's `auditor_seal_keys`).
"""

from __future__ import annotations

from pathlib import Path

from api.wiring import default_audit_checks, load_seal_key
from chain.audit import Check
from chain.audit.recompute import Recompute
from chain.deploy import Ledger
from chain.store import ArtifactReader
from consent.ids import StudyId
from fl.roles.plan import StudyPlan
from fl.roles.recompute import AggregateRecomputer

__all__ = ["audit_checks", "read_plan"]


def read_plan(ledger: Ledger, store: ArtifactReader, study: StudyId) -> StudyPlan:
    """The study plan behind the study's on-chain `metadataCid`."""
    record = ledger.studies.get_study(study)
    return StudyPlan.from_json_bytes(store.get(record.metadata_cid))


def audit_checks(
    ledger: Ledger, store: ArtifactReader, study: StudyId, auditor_key: Path | None
) -> tuple[Check, ...]:
    """The default checks (`api.wiring.default_audit_checks`), plus `recompute` when the auditor
    gave their key."""
    defaults = default_audit_checks()
    if auditor_key is None:
        return defaults
    recomputer = AggregateRecomputer(
        plan=read_plan(ledger, store, study), store=store, auditor_key=load_seal_key(auditor_key)
    )
    return (*defaults, Recompute(recomputer))
