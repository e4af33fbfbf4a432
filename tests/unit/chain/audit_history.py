"""A two-round study history on the eth-tester ledger, for the audit verifier and the HTTP API.

`build_history(world, store, proofs_dir)` grants patients 0-2 to hospital 0 and 3-4 to hospital 1
(one by one, or with `lazy` as one batch of first consents per hospital under a Merkle root, patient
1's record materialised from its batch proof before the revocation), runs round 0, relays patient
1's signed revocation, runs round 1 (hospital 0 leaves patient 1
out and publishes its exclusion proof with the trainer's own writer, `fl.roles.proofs`) and
returns what it recorded. Options forge the history
the way a dishonest hospital (or aggregator) would.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from chain.consent_registry import SignedConsent
from chain.store import ArtifactStore
from consent.contributions import ContributionRecord
from consent.formats.round_metrics import CONTRIBUTIONS, METRICS, Decision, RoundMetrics
from consent.ids import Address, Bytes32
from consent.records import RoundResult, UpdateSubmission
from consent.smt import DataTree
from fl.roles.contributions import contribution_record
from fl.roles.proofs import ExclusionProof, write_proof_files
from tests.fixtures.ledger import DEADLINE, LedgerWorld, sender_of

HOSPITAL_PATIENTS = ((0, 1, 2), (3, 4))
REVOKED_PATIENT = 1


@dataclass(frozen=True)
class StudyHistory:
    """What `build_history` put on chain and in the store."""

    model_cids: tuple[str, ...]  # round r's model
    update_cids: tuple[tuple[str, ...], ...]  # [round][hospital]
    metrics_cids: tuple[str, ...]
    base_cid: str
    revoked: Address
    proof_file: Path


def _sha(data: bytes) -> Bytes32:
    return Bytes32(hashlib.sha256(data).digest())


def _put(store: ArtifactStore, data: bytes) -> tuple[Bytes32, str]:
    return _sha(data), store.put(data)


def _metrics(round_: int, world: LedgerWorld, *, unlisted: bool, decisions: str) -> bytes:
    """The aggregator's metrics artifact: hospital 0 aggregated, hospital 1 rejected (left out of
    both lists in round 1 if `unlisted`, as an aggregator hiding an update would).

    `decisions` shapes the strategy's report in round 1: "honest", "kept-rejected" (claims the
    rejected update was kept), "bad-weights" (kept weights summing to 0.5), or "v1" (a version-1
    document without decisions, as older studies wrote)."""
    kept, dropped = sender_of(world.hospitals[0]), sender_of(world.hospitals[1])
    reason = "update is not finite"
    report = [Decision(kept, True, 1.0), Decision(dropped, False, 0.0, reason)]
    if round_ == 1 and decisions == "kept-rejected":
        report = [Decision(kept, True, 0.5), Decision(dropped, True, 0.5)]
    if round_ == 1 and decisions == "bad-weights":
        report[0] = Decision(kept, True, 0.5)
    rejected = ((dropped, reason),)
    used = len(HOSPITAL_PATIENTS[0]) - (1 if round_ else 0)  # patient 1 revoked after round 0
    if unlisted and round_ == 1:
        rejected, report = (), report[:1]
    values = {"method": "exact", "gain": 0.375, "evaluations": 3, "values": [
        {"hospital": kept, "value": 0.25 + round_}, {"hospital": dropped, "value": 0.125}
    ]}  # fmt: skip
    metrics = RoundMetrics(
        round=round_,
        accepted=((kept, used),),
        rejected=rejected,
        decisions=tuple(report),
        extensions={CONTRIBUTIONS: values},
    )
    if round_ == 1 and decisions == "v1":
        body = json.loads(metrics.to_json_bytes())
        del body["decisions"], body["extensions"]
        return json.dumps(dict(body, format=METRICS.tag(1)), sort_keys=True).encode()
    return metrics.to_json_bytes()


def _record_contributions(world: LedgerWorld, round_: int, metrics: bytes, how: str) -> None:
    """Record the round's judgement on the Contributions contract as the aggregator would, or, in
    round 1, as a dishonest one: "inflated" (hospital 0's value raised by 1 on chain), "digest"
    (the digest of other decisions), "missing" (never recorded)."""
    assert world.aggregator.contributions is not None
    honest = contribution_record(RoundMetrics.from_json_bytes(metrics))
    record = honest
    if round_ == 1 and how == "missing":
        return
    if round_ == 1 and how == "inflated":
        bumped = {h: v + (10**18 if h == sender_of(world.hospitals[0]) else 0)
                  for h, v in honest.as_dict().items()}  # fmt: skip
        record = ContributionRecord(honest.judgement_hash, tuple(bumped), tuple(bumped.values()))
    if round_ == 1 and how == "digest":
        record = ContributionRecord(Bytes32(b"\x05" * 32), honest.hospitals, honest.values)
    world.aggregator.contributions.record_round(world.study, round_, record)


def build_history(
    world: LedgerWorld,
    store: ArtifactStore,
    proofs_dir: Path,
    *,
    forge_root: bool = False,
    write_proofs: bool = True,
    wrong_base: bool = False,
    unlisted_update: bool = False,
    decisions: str = "honest",
    contributions: str = "honest",
    lazy: bool = False,
) -> StudyHistory:
    """Two rounds with a revocation between them (see the module docstring)."""
    for hospital, patients in enumerate(HOSPITAL_PATIENTS):
        if lazy:
            ledger = world.hospitals[hospital]
            batch = [
                SignedConsent(world.patient(p), 0, world.consent_sig(p, ledger), DEADLINE)
                for p in patients
            ]
            ledger.consents.grant_first_batch(world.study, batch)
            continue
        for patient in patients:
            world.grant(patient, hospital)
    study = world.study
    base_hash, base_cid = _put(store, b"initial model weights")
    models: list[str] = []
    updates: list[tuple[str, ...]] = []
    metrics: list[str] = []
    revoked = world.patient(REVOKED_PATIENT)
    proof_files: list[Path] = []
    revoked_block = 0
    for round_ in range(2):
        world.aggregator.rounds.open_round(study, round_, base_hash, base_cid)
        round_updates: list[str] = []
        for hospital, patients in enumerate(HOSPITAL_PATIENTS):
            used = [world.patient(p) for p in patients if round_ == 0 or p != REVOKED_PATIENT]
            tree = DataTree.build(used)
            committed = tree.root
            if forge_root and round_ == 1 and hospital == 0:
                committed = DataTree.build([*used, revoked]).root
            update_hash, update_cid = _put(store, f"update r{round_} h{hospital}".encode())
            consent_block = world.chain.block_number()
            world.hospitals[hospital].rounds.submit_update(
                study,
                round_,
                UpdateSubmission(
                    update_hash=update_hash,
                    update_cid=update_cid,
                    num_samples=10 * len(used),
                    num_patients=len(used),
                    data_root=committed,
                    consent_block=consent_block,
                ),
            )
            round_updates.append(update_cid)
            if round_ == 1 and hospital == 0 and write_proofs:
                proof = ExclusionProof(
                    study=study,
                    hospital=sender_of(world.hospitals[0]),
                    round=round_,
                    patient=revoked,
                    revoked_block=revoked_block,
                    consent_block=consent_block,
                    data_root=committed,
                    proof=tree.non_membership_proof(revoked),
                )
                proof_files.extend(write_proof_files(proofs_dir, [proof]))
        model_hash, model_cid = _put(store, f"model after round {round_}".encode())
        metrics_bytes = _metrics(round_, world, unlisted=unlisted_update, decisions=decisions)
        _, metrics_cid = _put(store, metrics_bytes)
        world.aggregator.rounds.finalize_round(
            study,
            round_,
            RoundResult(
                model_hash=model_hash,
                model_cid=model_cid,
                metrics_cid=metrics_cid,
                considered_updates=len(round_updates),
            ),
        )
        _record_contributions(world, round_, metrics_bytes, contributions)
        models.append(model_cid)
        updates.append(tuple(round_updates))
        metrics.append(metrics_cid)
        base_hash, base_cid = model_hash, model_cid
        if wrong_base:
            base_hash, base_cid = _put(store, b"some other model")
        if round_ == 0:
            if lazy:
                member = world.outsider.consents.membership(study, revoked)
                assert member is not None
                world.outsider.consents.materialize(study, revoked, member)
            deadline = world.chain.block_timestamp() + 3600
            signature = world.revocation_sig(REVOKED_PATIENT, deadline=deadline)
            event = world.outsider.consents.revoke_with_sig(study, revoked, deadline, signature)
            revoked_block = event.position.block_number
    return StudyHistory(
        model_cids=tuple(models),
        update_cids=tuple(updates),
        metrics_cids=tuple(metrics),
        base_cid=_put(store, b"initial model weights")[1],
        revoked=revoked,
        proof_file=proof_files[0] if proof_files else proofs_dir / "none.json",
    )
