"""`consentfl demo --unlearn` (issue 16): the study plan's `unlearn` policy and what the demo
reports of it: the rollback rounds on chain, the retrained head and its lineage, the audit's
`lineage` check, the test metric before the rollback and after retraining, and what a revoked
patient's consent status says."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Final, Protocol

from api.unlearning import unlearning_status
from chain.audit import AuditReport
from chain.deploy import Ledger
from chain.store import ArtifactStore
from consent.formats.revocation import RevocationMode, RevocationPolicy
from consent.ids import Address, StudyId
from consent.lineage import shard_lineages, shards_in

__all__ = ["DEMO_POLICY", "demo_policy", "unlearn_summary"]

DEMO_POLICY: Final = RevocationPolicy(
    mode=RevocationMode.UNLEARN, window_rounds=1, window_seconds=3600.0
)
"""Roll back at the first round opened after a revocation (within an hour at worst)."""


def demo_policy(shards: int) -> RevocationPolicy:
    """`DEMO_POLICY` with `shards` SISA shards."""
    return replace(DEMO_POLICY, shards=shards)


class _Row(Protocol):
    @property
    def round(self) -> int: ...

    @property
    def metric(self) -> float | None: ...


def unlearn_summary(
    ledger: Ledger,
    store: ArtifactStore,
    study: StudyId,
    rows: Sequence[_Row],
    audit: AuditReport | None,
    proofs_dir: Path,
    revoked: Sequence[Address],
    shards: int = 1,
) -> dict[str, Any]:
    """The `unlearning` section of summary.json (`head_lineage`: per shard with `shards` > 1)."""
    rollbacks = {} if ledger.rollbacks is None else ledger.rollbacks.rollbacks(study)
    head = rows[-1] if rows else None
    first = min(rollbacks, default=None)
    before = next((r.metric for r in rows if first is not None and r.round == first - 1), None)
    checks = [] if audit is None else [c for c in audit.checks if c.check == "lineage"]
    status = None
    if revoked:
        history = ledger.consents.consent_events(ledger.manifest.deploy_block)
        mine = [e for e in history if e.study == study and e.patient == revoked[0]]
        found = unlearning_status(ledger, store, proofs_dir, study, mine)
        status = None if found is None else found.model_dump()
    lines = () if head is None else shard_lineages(head.round, rollbacks, shards)
    return {
        "policy": demo_policy(shards).to_extension(),
        "rollbacks": [
            {
                "round": r,
                "base_round": rb.base_round,
                "patients": len(rb.patients),
                "shards": list(shards_in(rb.shard_mask)),
            }
            for r, rb in sorted(rollbacks.items())
        ],
        "head_round": None if head is None else head.round,
        "head_lineage": (
            [list(line) for line in lines] if shards > 1 else list(lines[0] if lines else ())
        ),
        "metric_before_rollback": before,
        "metric_after_retraining": None if head is None else head.metric,
        "lineage_check": {
            "passed": bool(checks) and all(c.passed for c in checks),
            "checks": len(checks),
        },
        "patient_status": status,
    }
