"""The audit's recomputation of each round's decisions and contribution values, wired for
`consentfl audit verify --seal-key --validation` (issue 15).

`chain.audit.contributions.Judgement` takes a `JudgementRecomputer`; `chain/` cannot import torch,
so this composition-root adapter hands it `fl.roles.recheck.recheck_round` over the study's plan,
the store, the seal key and the aggregator's validation rows (`fl/` and `chain/` meet only here).
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from chain.audit.check import Check
from chain.audit.contributions import Judgement
from chain.audit.registry import DEFAULT_CHECKS
from chain.deploy import Ledger
from chain.store import ArtifactStore
from consent.ids import StudyId
from consent.records import RoundRecord
from fl.roles.plan import StudyPlan
from fl.roles.recheck import recheck_round
from fl.roles.study_data import load_record_data

__all__ = ["RoundRecheck", "checks_with_recompute"]


class RoundRecheck:
    """`JudgementRecomputer` over `fl.roles.recheck` for one study."""

    def __init__(
        self,
        *,
        study: StudyId,
        plan: StudyPlan,
        store: ArtifactStore,
        seal_key: X25519PrivateKey,
        validation: Path,
    ) -> None:
        self._study = study
        self._plan = plan
        self._store = store
        self._seal_key = seal_key
        self._validation = load_record_data(validation, plan)

    def recheck(self, round_: RoundRecord) -> tuple[bool, str]:
        """Whether `round_`'s metrics are what its updates give (see `fl.roles.recheck`)."""
        found = recheck_round(
            study=self._study,
            plan=self._plan,
            record=round_,
            store=self._store,
            seal_key=self._seal_key,
            validation=self._validation,
        )
        return found.passed, found.detail


def checks_with_recompute(
    ledger: Ledger,
    store: ArtifactStore,
    study: StudyId,
    *,
    seal_key: X25519PrivateKey,
    validation: Path,
) -> tuple[Check, ...]:
    """The default checks, the `contributions` one also recomputing every finalized round."""
    plan = StudyPlan.from_json_bytes(store.get(ledger.studies.get_study(study).metadata_cid))
    recheck = RoundRecheck(
        study=study, plan=plan, store=store, seal_key=seal_key, validation=validation
    )
    return tuple(
        Judgement(recheck) if check.name == Judgement.name else check for check in DEFAULT_CHECKS
    )
