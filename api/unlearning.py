"""What a revoked patient is told about the models trained on their data (issue 16).

`GET /v1/studies/{study}/patients/{patient}/consent` carries an `unlearning` section once the
patient has revoked. In an `unlearn` study it says whether the model in use (the head, the latest
finalized round) carries the patient: "revoked at block B; the current model (round r, CID) never
trained on your data" once no round of the head's lineage (`consent.lineage`) may hold them, with
the rollback that removed them, the published exclusion proofs of the head's lineage rounds (each
verified against its on-chain `dataRoot`) and how long it took from the revocation to the first
clean head. With SISA shards (S > 1) the patient's rows trained only the sub-model of their
shard (`consent.lineage.shard_of`): the section names it, checks that shard's lineage, and says
that every sub-model of the ensemble in use excludes them. In a `forward` study it says that
future rounds leave the patient out and that models trained before the revocation are not
retrained.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from chain.deploy import Ledger
from chain.exclusions import ExclusionProofs
from chain.store import ArtifactStore
from chain.store.errors import ArtifactNotFoundError, CorruptArtifactError, InvalidCidError
from consent.events import ConsentEvent
from consent.formats import FormatError
from consent.formats.revocation import RevocationPolicy
from consent.formats.study_plan import PlanDocument
from consent.ids import Address, StudyId
from consent.lineage import (
    Revocation,
    RollbackRecord,
    revocations_of,
    shard_lineages,
    shard_of,
    taints,
)
from consent.records import RoundRecord
from consent.rounds import RoundState
from consent.smt import verify_non_membership

__all__ = ["LineageProofOut", "UnlearningOut", "unlearning_status"]


class LineageProofOut(BaseModel):
    """A published exclusion proof of the patient against one lineage round's data root."""

    round: int
    hospital: str
    data_root: str
    verified: bool = Field(description="the proof verifies against the on-chain dataRoot")


class UnlearningOut(BaseModel):
    """What the revocation did to the trained models."""

    policy: Literal["forward", "unlearn"]
    state: Literal["forward", "pending", "unlearned"]
    message: str
    revoked_block: int
    head_round: int | None = None
    head_model_cid: str | None = None
    lineage: list[int] = Field(
        default_factory=list,
        description="the head's rounds, oldest first (with shards: the patient's shard's)",
    )
    shards: int = Field(default=1, description="SISA shards of the study (1: unsharded)")
    shard: int | None = Field(default=None, description="the shard the patient's rows sat in")
    rollback_round: int | None = Field(
        default=None, description="the rollback that removed the patient"
    )
    proofs: list[LineageProofOut] = Field(default_factory=list)
    seconds_to_clean_head: int | None = None
    rounds_to_clean_head: int | None = None


def unlearning_status(
    ledger: Ledger,
    store: ArtifactStore | None,
    proofs_dir: Path | None,
    study: StudyId,
    history: list[ConsentEvent],
) -> UnlearningOut | None:
    """The section for a patient with consent `history`; None if they never revoked. The
    published proofs under `proofs_dir` are read only for a revoked patient of an unlearn
    study."""
    found = revocations_of(history)
    if not found:
        return None
    revocation = found[-1]
    policy = _policy(ledger, store, study)
    if policy is None or not policy.unlearns:
        return UnlearningOut(
            policy="forward",
            state="forward",
            revoked_block=revocation.block,
            message=f"revoked at block {revocation.block}; no later round trains on your data "
            "(this study does not retrain models trained before your revocation)",
        )
    rounds = [
        ledger.rounds.get_round_record(study, r) for r in range(ledger.rounds.round_count(study))
    ]
    rollbacks = {} if ledger.rollbacks is None else ledger.rollbacks.rollbacks(study)
    finalized = [r for r in rounds if r.state is RoundState.FINALIZED]
    head = finalized[-1] if finalized else None
    shard = shard_of(revocation.patient, policy.shards)
    carried = () if head is None else _carried(head.round, rollbacks, policy.shards, shard)
    out = UnlearningOut(
        policy="unlearn",
        shards=policy.shards,
        shard=shard if policy.shards > 1 else None,
        state="unlearned" if _clean(rounds, carried, revocation) else "pending",
        message="",
        revoked_block=revocation.block,
        head_round=None if head is None else head.round,
        head_model_cid=None if head is None else head.model_cid,
        lineage=list(carried),
        rollback_round=_rollback_of(rollbacks, revocation.patient),
        proofs=_proofs(_published(proofs_dir), study, rounds, carried, revocation),
    )
    first = _first_clean(ledger, rounds, rollbacks, revocation, policy.shards)
    if first is not None:
        out.rounds_to_clean_head = sum(
            1 for r in rounds[: first[0] + 1] if r.opened_block > revocation.block
        )
        out.seconds_to_clean_head = first[1] - revocation.timestamp
    out.message = _message(out, revocation)
    return out


def _carried(
    head: int, rollbacks: dict[int, RollbackRecord], shards: int, shard: int
) -> tuple[int, ...]:
    """The rounds the head's sub-model of `shard` carries (the head's lineage for S = 1)."""
    return shard_lineages(head, rollbacks, shards)[shard]


def _published(directory: Path | None) -> ExclusionProofs | None:
    return None if directory is None or not directory.is_dir() else ExclusionProofs.load(directory)


def _message(out: UnlearningOut, revocation: Revocation) -> str:
    if out.head_round is None:
        return f"revoked at block {revocation.block}; no model has been trained yet"
    if out.state == "unlearned" and out.head_round is not None:
        sharded = (
            ""
            if out.shard is None
            else f": your rows sat in shard {out.shard} of {out.shards}, and none of the "
            f"{out.shards} sub-models it averages carries them"
        )
        return (
            f"revoked at block {revocation.block}; the current model (round {out.head_round}, "
            f"{out.head_model_cid}) never trained on your data{sharded}"
        )
    return (
        f"revoked at block {revocation.block}; unlearning pending: the current model "
        f"(round {out.head_round}) may still carry your data until the next rollback round"
    )


def _policy(ledger: Ledger, store: ArtifactStore | None, study: StudyId) -> RevocationPolicy | None:
    """The plan's policy; None without a store or a readable plan (then reported as forward:
    nothing on this server says the study unlearns). A store that is down raises (503)."""
    if store is None:
        return None
    try:
        body = store.get(ledger.studies.get_study(study).metadata_cid)
        return RevocationPolicy.from_extensions(PlanDocument.from_json_bytes(body).extensions)
    except (FormatError, ArtifactNotFoundError, CorruptArtifactError, InvalidCidError):
        return None


def _clean(rounds: list[RoundRecord], carried: tuple[int, ...], revocation: Revocation) -> bool:
    return not any(taints(u, revocation) for r in carried for u in rounds[r].updates)


def _rollback_of(rollbacks: dict[int, RollbackRecord], patient: Address) -> int | None:
    served = [
        r
        for r, rec in sorted(rollbacks.items())
        if patient.lower() in {p.lower() for p in rec.patients}
    ]
    return served[-1] if served else None


def _first_clean(
    ledger: Ledger,
    rounds: list[RoundRecord],
    rollbacks: dict[int, RollbackRecord],
    revocation: Revocation,
    shards: int,
) -> tuple[int, int] | None:
    """The first round finalized after the revocation whose lineage excludes the patient, and
    the timestamp of its finalization."""
    for record in rounds:
        if record.state is not RoundState.FINALIZED or record.finalized_block <= revocation.block:
            continue
        shard = shard_of(revocation.patient, shards)
        if _clean(rounds, _carried(record.round, rollbacks, shards, shard), revocation):
            return record.round, ledger.chain.block_timestamp(record.finalized_block)
    return None


def _proofs(
    proofs: ExclusionProofs | None,
    study: StudyId,
    rounds: list[RoundRecord],
    carried: tuple[int, ...],
    revocation: Revocation,
) -> list[LineageProofOut]:
    if proofs is None:
        return []
    found: list[LineageProofOut] = []
    for r in carried:
        for update in rounds[r].updates:
            if update.hospital.lower() != revocation.hospital.lower():
                continue
            entry = proofs.lookup(study, update.hospital, update.data_root, revocation.patient)
            if entry is None:
                continue
            ok = not isinstance(entry, Exception) and verify_non_membership(
                update.data_root, revocation.patient, entry
            )
            found.append(
                LineageProofOut(
                    round=r,
                    hospital=update.hospital,
                    data_root="0x" + bytes(update.data_root).hex(),
                    verified=ok,
                )
            )
    return found
