"""EmbeddedStudy as the demo drives it: rounds, reports and a reused work directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.embedded import EmbeddedStudy
from chain.audit import AuditVerifier
from chain.exclusions import ExclusionProofs
from consent.ids import StudyId
from fl.roles import DropReason
from tests.unit.api.test_embedded_consent import PLAN, records


def test_rounds_report_every_hospital_and_later_rounds_exclude_revoked_patients(
    tmp_path: Path,
) -> None:
    study = EmbeddedStudy.create(tmp_path, hospitals=2, plan=PLAN, rounds=3)
    enrolments = [study.enroll(k, records(k, 6)) for k in range(2)]
    first = study.run_round()
    study.revoke(enrolments[1].keys["h1-r0"])

    second = study.run_round()

    assert first.round == 0
    assert second.round == 1
    assert {h for h, _ in second.aggregate.accepted} == {study.hospital(0), study.hospital(1)}
    outcome = second.trainers[study.hospital(1)]
    assert outcome is not None
    assert outcome.usage is not None
    assert outcome.usage.dropped_rows == {DropReason.REVOKED: 1}
    assert enrolments[1].keys["h1-r0"].address not in outcome.usage.patients


def test_a_second_study_in_the_same_workdir_starts_from_clean_trainer_state(
    tmp_path: Path,
) -> None:
    old = EmbeddedStudy.create(tmp_path, hospitals=1, plan=PLAN, rounds=2)
    key = old.enroll(0, records(0, 4)).keys["h0-r1"]
    old.run_round()
    old.revoke(key)
    old.run_round()
    old.close()

    new = EmbeddedStudy.create(tmp_path, hospitals=1, plan=PLAN, rounds=2)
    new.enroll(0, records(0, 4))

    assert new.trainers[0].usages == {}
    assert new.write_exclusion_proofs(tmp_path / "proofs") == []
    assert new.run_round().round == 0


def test_batch_enrolled_patients_train_and_a_revoked_one_is_left_out_by_trainer_and_audit(
    tmp_path: Path,
) -> None:
    study = EmbeddedStudy.create(tmp_path, hospitals=2, plan=PLAN, rounds=3)
    enrolments = [study.enroll(k, records(k, 6), batched_first=True) for k in range(2)]
    consents = study.coordinator.consents
    revoked = enrolments[1].keys["h1-r0"]
    assert consents.batch_count(study.study) == 2
    assert not consents.record(study.study, revoked.address).exists  # stored lazily
    first = study.run_round()
    study.revoke(revoked)  # materialised from its batch proof, then revoked

    second = study.run_round()

    assert consents.record(study.study, revoked.address).revoked_block > 0
    before, after = first.trainers[study.hospital(1)], second.trainers[study.hospital(1)]
    assert before is not None
    assert before.usage is not None
    assert revoked.address in before.usage.patients
    assert after is not None
    assert after.usage is not None
    assert after.usage.dropped_rows == {DropReason.REVOKED: 1}
    assert revoked.address not in after.usage.patients
    proofs = tmp_path / "proofs"
    study.write_exclusion_proofs(proofs)
    report = AuditVerifier(study.coordinator, study.store, ExclusionProofs.load(proofs)).verify(
        study.study
    )
    assert report.passed, report.failures
    exclusions = [c for c in report.checks if c.check == "exclusion"]
    assert [revoked.address in c.subject for c in exclusions] == [True]


def test_after_a_combined_finalize_a_round_reads_the_latest_round_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    study = EmbeddedStudy.create(tmp_path, hospitals=2, plan=PLAN, rounds=3)
    for k in range(2):
        study.enroll(k, records(k, 6))
    study.run_round()  # finalizes round 0 and opens round 1 in one transaction
    rounds = study.aggregator_ledger.rounds
    reads: list[int] = []
    real = rounds.latest_round

    def spied(study_id: StudyId) -> object:
        reads.append(1)
        return real(study_id)

    monkeypatch.setattr(rounds, "latest_round", spied)
    report = study.run_round()

    assert report.round == 1
    assert len(report.aggregate.accepted) == 2  # the one read saw every update
    assert reads == [1]  # the aggregator knows round 1 is open: only the read after the steps
    study.run_round()
    with pytest.raises(RuntimeError, match="every planned round is finalized"):
        study.run_round()
