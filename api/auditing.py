"""Wiring for the auditor's key-holding audits: the `recompute` check and `audit replay`.

Both need the study plan (read by the CID the chain records; the store checks the bytes against
the CID) and an auditor's X25519 private key (a key file as `consentfl audit keygen` writes it,
whose public half the coordinator listed in the plan's `auditor_seal_keys`). With the key, the
audit reruns every finalized round's combine (`fl.roles.judging.judge_round`, the aggregator's
own): the `recompute` check compares the model's hash, and, when the plan judges updates (a
robust strategy or a valuation), the `contributions` check also compares every decision and
value (`fl.roles.recheck`). FLTrust's root update and the values need the aggregator's
validation rows (`--validation`); without them those rounds fail, named.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from api.wiring import default_audit_checks, load_seal_key
from chain.audit import Check
from chain.audit.contributions import Judgement
from chain.audit.recompute import Recompute
from chain.deploy import Ledger
from chain.store import ArtifactReader
from consent.ids import StudyId
from consent.records import RoundRecord
from fl.data import Examples
from fl.roles.plan import StudyPlan
from fl.roles.recheck import recheck_round
from fl.roles.recompute import AggregateRecomputer
from fl.roles.study_data import load_record_data

__all__ = ["RoundRecheck", "audit_checks", "read_plan"]


def read_plan(ledger: Ledger, store: ArtifactReader, study: StudyId) -> StudyPlan:
    """The study plan behind the study's on-chain `metadataCid`."""
    record = ledger.studies.get_study(study)
    return StudyPlan.from_json_bytes(store.get(record.metadata_cid))


class RoundRecheck:
    """`chain.audit.contributions.JudgementRecomputer` over `fl.roles.recheck` for one study
    (`chain/` cannot import torch: `fl/` and `chain/` meet here)."""

    def __init__(
        self,
        *,
        study: StudyId,
        plan: StudyPlan,
        store: ArtifactReader,
        key: X25519PrivateKey,
        validation: Examples | None,
    ) -> None:
        self._study = study
        self._plan = plan
        self._store = store
        self._key = key
        self._validation = validation

    def recheck(self, round_: RoundRecord) -> tuple[bool, str]:
        """Whether `round_`'s metrics are what its updates give (see `fl.roles.recheck`)."""
        found = recheck_round(
            study=self._study,
            plan=self._plan,
            record=round_,
            store=self._store,
            seal_key=self._key,
            validation=self._validation,
        )
        return found.passed, found.detail


def audit_checks(
    ledger: Ledger,
    store: ArtifactReader,
    study: StudyId,
    auditor_key: Path | None,
    validation: Path | None = None,
) -> tuple[Check, ...]:
    """The default checks (`api.wiring.default_audit_checks`), plus `recompute` when the auditor
    gave their key (and `contributions` recomputing decisions and values when the plan judges
    updates)."""
    defaults = default_audit_checks()
    if auditor_key is None:
        return defaults
    plan = read_plan(ledger, store, study)
    key = load_seal_key(auditor_key)
    rows = None if validation is None else load_record_data(validation, plan)
    recomputer = AggregateRecomputer(plan=plan, store=store, auditor_key=key, validation=rows)
    checks = defaults
    if plan.judges_updates:
        recheck = RoundRecheck(study=study, plan=plan, store=store, key=key, validation=rows)
        checks = tuple(
            Judgement(recheck) if check.name == Judgement.name else check for check in defaults
        )
    return (*checks, Recompute(recomputer))
