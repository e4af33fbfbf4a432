"""`consentfl demo --mode secagg`: the study's threshold, and what each round's transcript holds.

The threshold is a majority of the hospitals (at least 2). Per round the demo reports, from the
chain and the store: the survivors and reveals, the size of one masked update (header with the
sealed self-seed shares, and the ring vector: 8 bytes per parameter) next to the float32 update
it hides (4 bytes per parameter), and whether the audit recomputed the round's model bit for bit.
"""

from __future__ import annotations

from typing import Any

from chain.audit import AuditReport
from chain.deploy import Ledger
from chain.store import ArtifactReader
from consent.ids import StudyId
from consent.secagg.model import load_tensors

__all__ = ["majority_threshold", "secagg_figures"]


def majority_threshold(hospitals: int) -> int:
    """The demo's secagg threshold: a majority of the hospitals, at least 2."""
    return max(2, hospitals // 2 + 1)


def secagg_figures(
    ledger: Ledger, store: ArtifactReader, study: StudyId, audit: AuditReport | None
) -> dict[str, Any]:
    """Per round: survivors, reveals, abort, masked vs plain bytes, audit verdict."""
    coordinator = ledger.secagg
    if coordinator is None or coordinator.threshold(study) == 0:
        return {}
    recomputed = {c.round: c.passed for c in (audit.checks if audit else ()) if c.check == "secagg"}
    rounds = []
    for round_ in range(ledger.rounds.round_count(study)):
        phase = coordinator.get_phase(study, round_)
        updates = ledger.rounds.get_updates(study, round_)
        masked = len(store.get(updates[0].update_cid)) if updates else 0
        base = load_tensors(store.get(ledger.rounds.get_round(study, round_).base_model_cid))
        plain = 4 * sum(int(t.size) for t in base.values())
        rounds.append(
            {
                "round": round_,
                "survivors": phase.submitted_at_close,
                "reveals": phase.reveal_count,
                "aborted": phase.abort_reason or None,
                "masked_update_bytes": masked,
                "plain_update_bytes": plain,
                "audit_recomputed": recomputed.get(round_),
            }
        )
    return {"threshold": coordinator.threshold(study), "rounds": rounds}
