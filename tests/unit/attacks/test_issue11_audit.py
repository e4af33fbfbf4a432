"""Issue 11, the auditor's half: exploits a key-holding auditor now catches.

H4: every update and the finalized model replaced by random bytes whose CIDs and hashes match
what is on chain passed the audit (nobody could open the sealed updates). With the study's
auditor keys in its plan, every update is sealed to the auditors too, and `recompute` opens each
one and rebuilds each finalized model bit-exactly, naming any round and difference.

H1: a hospital trained on a revoked patient and committed a data root without them. `audit
replay` retrains the round from the rows the hospital discloses: disclosing the patient breaks
the data root, leaving them out breaks the update.

Both run a real study in process (eth-tester chain, local store, real trainer and aggregator
roles, real crypto); the lies are injected where a dishonest party would tell them.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

import pytest
from torch import Tensor

from api.embedded import EmbeddedStudy
from chain.audit import DEFAULT_CHECKS, AuditReport, AuditVerifier
from chain.audit.recompute import Recompute
from chain.exclusions import ExclusionProofs
from consent.formats.round_metrics import Decision, RoundMetrics
from consent.ids import Bytes32
from consent.records import RoundResult, UpdateSubmission
from consent.sealing import generate_keypair
from consent.smt import DataTree
from fl.data import HospitalDataset
from fl.models import ModelSpec
from fl.roles.contributions import contribution_record
from fl.roles.judging import RoundJudgement, judge_round
from fl.roles.plan import StudyPlan
from fl.roles.recompute import AggregateRecomputer
from fl.roles.replay import replay_round
from fl.train import LocalResult, LocalTrainingConfig, train_local
from tests.unit.api.test_embedded_consent import records

AUDITOR = generate_keypair()
PLAN = StudyPlan(
    model=ModelSpec.mlp(3, "classification", (4,)),
    training=LocalTrainingConfig(epochs=2, batch_size=4, lr=0.1),
    auditor_seal_keys=(bytes(AUDITOR.public_key),),
)


def _sha(data: bytes) -> Bytes32:
    return Bytes32(hashlib.sha256(data).digest())


def _audit(
    study: EmbeddedStudy, *, with_key: bool = True, proofs: Path | None = None
) -> AuditReport:
    checks = DEFAULT_CHECKS
    if with_key:
        recomputer = AggregateRecomputer(
            plan=study.plan, store=study.store, auditor_key=AUDITOR.private_key
        )
        checks = (*DEFAULT_CHECKS, Recompute(recomputer))
    found = ExclusionProofs.load(proofs) if proofs is not None else ExclusionProofs()
    return AuditVerifier(study.coordinator, study.store, found, checks=checks).verify(study.study)


def _recompute(report: AuditReport) -> list[tuple[int | None, bool, str]]:
    return [(c.round, c.passed, c.detail) for c in report.checks if c.check == "recompute"]


def test_honest_study_is_recomputed_bit_exactly_round_by_round(tmp_path: Path) -> None:
    study = EmbeddedStudy.create(tmp_path, hospitals=2, plan=PLAN, rounds=2)
    enrolments = [study.enroll(k, records(k, 8)) for k in range(2)]
    study.run_round()
    study.revoke(enrolments[0].keys["h0-r2"])
    study.run_round()

    study.write_exclusion_proofs(tmp_path / "proofs")
    report = _audit(study, proofs=tmp_path / "proofs")

    assert report.passed, report.failures
    found = _recompute(report)
    assert [(r, ok) for r, ok, _ in found] == [(0, True), (1, True)]
    assert all("bit-exactly from 2 update(s)" in detail for _, _, detail in found)


def _forge_round_of_random_bytes(study: EmbeddedStudy, datasets: list[HospitalDataset]) -> None:
    """The H4 history: the aggregator opens round 0 on the real base, each hospital submits
    random bytes (stored, so CID and hash match), the aggregator finalizes random bytes as the
    model with a metrics file that aggregates both."""
    assert study.aggregator.start() == 0
    decisions = []
    for k, dataset in enumerate(datasets):
        noise = os.urandom(512)
        study.hospital_ledgers[k].rounds.submit_update(
            study.study,
            0,
            UpdateSubmission(
                update_hash=_sha(noise),
                update_cid=study.store.put(noise),
                num_samples=len(dataset),
                num_patients=len(dataset.distinct_patients()),
                data_root=DataTree.build(dataset.patients).root,
                consent_block=study.chain.block_number(),
            ),
        )
        decisions.append(Decision(study.hospital(k), True, 0.5))
    model = os.urandom(2048)
    metrics = RoundMetrics(
        round=0,
        accepted=tuple((study.hospital(k), len(d)) for k, d in enumerate(datasets)),
        rejected=(),
        decisions=tuple(decisions),
    )
    study.aggregator_ledger.rounds.finalize_round(
        study.study,
        0,
        RoundResult(
            model_hash=_sha(model),
            model_cid=study.store.put(model),
            metrics_cid=study.store.put(metrics.to_json_bytes()),
            considered_updates=2,
        ),
    )
    # the lying aggregator records its judgement too, as the Contributions contract expects
    contributions = study.aggregator_ledger.contributions
    assert contributions is not None
    contributions.record_round(study.study, 0, contribution_record(metrics))


def test_h4_random_updates_and_model_with_matching_hashes_fail_the_audit(tmp_path: Path) -> None:
    study = EmbeddedStudy.create(tmp_path, hospitals=2, plan=PLAN, rounds=1)
    datasets = [study.enroll(k, records(k, 8)).dataset for k in range(2)]
    _forge_round_of_random_bytes(study, datasets)

    without_key = _audit(study, with_key=False)
    with_key = _audit(study)

    assert without_key.passed  # the lie H4 names: every hash and CID matches
    assert not with_key.passed
    unopened = [c for c in with_key.failures if c.check == "recompute" and c.hospital]
    assert {c.hospital for c in unopened} == {study.hospital(0), study.hospital(1)}
    assert all("not openable with the auditor's key" in c.detail for c in unopened)
    model = [c for c in with_key.failures if c.check == "recompute" and c.hospital is None]
    assert len(model) == 1
    assert model[0].round == 0
    assert "is not the aggregate of its updates" in model[0].detail


def test_h4_a_model_that_is_not_the_aggregate_of_honest_updates_fails_naming_the_tensors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    study = EmbeddedStudy.create(tmp_path, hospitals=2, plan=PLAN, rounds=2)
    for k in range(2):
        study.enroll(k, records(k, 8))
    study.run_round()
    honest = judge_round

    def nudged(plan: StudyPlan, *args: object) -> RoundJudgement:
        found = honest(plan, *args)  # type: ignore[arg-type]
        found.state["0.bias"] = found.state["0.bias"] + 1e-3
        return found

    monkeypatch.setattr("fl.roles.aggregator_outcome.judge_round", nudged)
    study.run_round()

    found = _recompute(_audit(study))
    assert [(r, ok) for r, ok, _ in found] == [(0, True), (1, False)]
    assert "0.bias: max |difference| 0.001" in found[1][2]


# --- H1: trained on a revoked patient, committed a root without them --------------------------


def _lying_trainer(full: HospitalDataset) -> object:
    """Hospital 0's training: always on every one of its rows, whatever consent selected."""

    def train(spec: ModelSpec, base: Mapping[str, Tensor], rows: HospitalDataset,
              config: LocalTrainingConfig) -> LocalResult:  # fmt: skip
        used = full if rows.patients[0] in full.distinct_patients() else rows
        return train_local(spec, base, used, config)

    return train


def _disclosed(study: EmbeddedStudy, k: int, round_: int) -> HospitalDataset:
    """The rows hospital `k` says it used in `round_` (its consented patients, in order)."""
    usage = study.trainers[k].usages[round_]
    dataset = study.trainers[k].dataset
    return dataset.select(dataset.patient_mask(set(usage.patients)))


def _replay(
    study: EmbeddedStudy, k: int, round_: int, rows: HospitalDataset
) -> dict[str, tuple[bool, str]]:
    findings = replay_round(
        plan=study.plan,
        study=study.study,
        record=study.coordinator.rounds.get_round_record(study.study, round_),
        hospital=study.hospital(k),
        rows=rows,
        store=study.store,
        auditor_key=AUDITOR.private_key,
    )
    return {f.step: (f.passed, f.detail) for f in findings}


def test_h1_hospital_that_trained_on_a_revoked_patient_fails_replay(tmp_path: Path) -> None:
    study = EmbeddedStudy.create(tmp_path, hospitals=2, plan=PLAN, rounds=2)
    enrolments = [study.enroll(k, records(k, 8)) for k in range(2)]
    study._train_fn = _lying_trainer(enrolments[0].dataset)  # type: ignore[assignment]
    for trainer in study.trainers.values():
        trainer._train_fn = study._train_fn  # type: ignore[assignment]
    study.run_round()
    revoked = enrolments[0].keys["h0-r2"].address
    study.revoke(enrolments[0].keys["h0-r2"])
    study.run_round()
    assert revoked not in study.trainers[0].usages[1].patients  # the committed root omits them

    honest_round = _replay(study, 0, 0, _disclosed(study, 0, 0))
    without = _replay(study, 0, 1, _disclosed(study, 0, 1))
    with_patient = _replay(study, 0, 1, enrolments[0].dataset)
    other = _replay(study, 1, 1, _disclosed(study, 1, 1))

    assert honest_round == {k: (True, v[1]) for k, v in honest_round.items()}
    assert without["data-root"][0]
    assert not without["update"][0]
    assert "update hash mismatch" in without["update"][1]
    assert not with_patient["data-root"][0]
    assert other["data-root"][0]
    assert other["update"][0]
    assert "bit-identical" in other["update"][1]
