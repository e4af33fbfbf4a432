"""Privacy mode "secagg" run by the trainer and aggregator roles (embedded: eth-tester, the local
store, real crypto): keys, deals, masked updates, the close, reveals, the recovered sum, the audit
recomputing it; dropouts and aborts; and the lies the roles and the audit catch."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest
from torch import Tensor

import fl.roles.secagg_aggregation as secagg_aggregation
import fl.roles.secagg_hospital as secagg_hospital
from api.embedded import EmbeddedStudy
from consent.formats.privacy import PrivacyMode, PrivacySpec
from consent.formats.round_metrics import RoundMetrics
from consent.secagg import Reveal
from consent.secagg.shares import Share
from fl.models import ModelSpec
from fl.roles import MetadataError, StudyPlan
from fl.roles.secagg_aggregation import TOO_FEW_SUBMISSIONS, SecAggRoundError
from fl.train import LocalTrainingConfig, train_local
from tests.unit.api.secagg_rounds import (
    DeltaRecorder,
    assert_base_plus_fedavg,
    audit,
    failed,
    secagg_details,
)
from tests.unit.api.test_embedded_consent import records

MODEL = ModelSpec.linear(3, "classification")
TRAINING = LocalTrainingConfig(epochs=1, batch_size=16, lr=0.1)


def _plan(threshold: int) -> StudyPlan:
    return StudyPlan(
        model=MODEL,
        training=TRAINING,
        round_timeout_s=0.0,
        privacy=PrivacySpec(mode=PrivacyMode.SECAGG, threshold=threshold),
    )


def _study(
    tmp: Path, hospitals: int, threshold: int, rounds: int = 2, **kw: object
) -> EmbeddedStudy:
    study = EmbeddedStudy.create(
        tmp,
        hospitals=hospitals,
        plan=_plan(threshold),
        rounds=rounds,
        **kw,  # type: ignore[arg-type]
    )
    return study


def test_a_secagg_plan_refuses_what_needs_each_update() -> None:
    with pytest.raises(MetadataError, match="secagg"):
        StudyPlan(
            model=MODEL,
            strategy="median",
            privacy=PrivacySpec(mode=PrivacyMode.SECAGG, threshold=2),
        )


def test_secagg_rounds_give_the_survivors_fedavg_and_the_audit_recomputes_them(
    tmp_path: Path,
) -> None:
    recorder = DeltaRecorder(train_local)
    study = _study(tmp_path, hospitals=3, threshold=2, train_fn=recorder)
    enrolments = [study.enroll(k, records(k, 6)) for k in range(3)]
    first = study.run_round()
    revoked = enrolments[1].keys["h1-r0"]
    study.revoke(revoked)
    recorder.deltas.clear()
    second = study.run_round()

    assert (first.round, second.round) == (0, 1)
    assert {h for h, _ in second.aggregate.accepted} == {study.hospital(k) for k in range(3)}
    usage = second.trainers[study.hospital(1)]
    assert usage is not None
    assert usage.usage is not None
    assert revoked.address not in usage.usage.patients
    # the aggregator learned only the sum, yet the model is base + the weighted FedAvg delta
    assert_base_plus_fedavg(study, first.aggregate.model_cid, second.aggregate.model_cid, recorder)
    report = audit(study, tmp_path)
    assert report.passed, failed(report)
    assert len(secagg_details(report)) == 2
    assert all("model matches" in d for d in secagg_details(report))
    assert any(c.check == "exclusion" and c.passed for c in report.checks)


def test_a_hospital_dropped_before_submitting_leaves_the_round_to_the_survivors(
    tmp_path: Path,
) -> None:
    study = _study(tmp_path, hospitals=4, threshold=2, rounds=2)
    for k in range(4):
        study.enroll(k, records(k, 5))
    for _ in range(2):
        for trainer in study.trainers.values():
            trainer.step()  # every hospital registers, then deals its key
    del study.trainers[3]  # then one dies, before round 0's submission
    report0 = study.run_round()
    report1 = study.run_round()
    assert study.hospital(3) in report0.aggregate.missing
    assert len(report0.aggregate.accepted) == 3
    roster1 = study.aggregator.secagg().roster(1)  # type: ignore[union-attr]
    assert study.hospital(3) not in roster1  # its key was burned at the close
    assert len(report1.aggregate.accepted) == 3
    report = audit(study, tmp_path)
    assert report.passed, failed(report)
    assert "1 dropped" in secagg_details(report)[0]


def test_below_threshold_the_round_aborts_on_chain_keeps_its_base_and_the_next_starts(
    tmp_path: Path,
) -> None:
    study = _study(tmp_path, hospitals=3, threshold=3, rounds=2)
    for k in range(3):
        study.enroll(k, records(k, 5))
    for _ in range(2):
        for trainer in study.trainers.values():
            trainer.step()  # every hospital deals its key
    del study.trainers[2]  # then one dies: 2 submissions < t = 3
    aborted = study.run_round()
    phase = study.coordinator.secagg.get_phase(study.study, 0)  # type: ignore[union-attr]
    assert phase.abort_reason == TOO_FEW_SUBMISSIONS
    record = study.coordinator.rounds.get_round(study.study, 0)
    assert record.model_hash == record.base_model_hash
    assert aborted.aggregate.accepted == ()
    metrics = RoundMetrics.from_json_bytes(study.store.get(aborted.aggregate.metrics_cid))
    assert all("aborted" in reason for _, reason in metrics.rejected)
    # two live keys remain, below t: the study ends, by name, instead of aborting every round
    assert study.aggregator.done()
    assert "threshold 3" in (study.aggregator.ended or "")
    report = audit(study, tmp_path)
    assert report.passed, failed(report)
    assert secagg_details(report) == [
        "aborted (too-few-submissions) below threshold 3; base model kept"
    ]


def test_a_forged_reveal_is_left_out_by_the_aggregator_and_named_by_theaudit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    study = _study(tmp_path, hospitals=4, threshold=2, rounds=1)
    for k in range(4):
        study.enroll(k, records(k, 5))
    forger = study.hospital(0)
    honest = secagg_hospital.reveal

    def forged(*args: object, **kwargs: object) -> Reveal:
        published = honest(*args, **kwargs)  # type: ignore[arg-type]
        if published.holder != forger:
            return published
        first = published.shares[0]
        bad = Share(first.kind, first.owner, first.holder, first.index, bytes(32))
        return Reveal(published.context, published.holder, (bad, *published.shares[1:]))

    monkeypatch.setattr(secagg_hospital, "reveal", forged)
    outcome = study.run_round()
    assert len(outcome.aggregate.accepted) == 4  # the sum came from the three honest reveals
    report = audit(study, tmp_path)
    (check,) = [c for c in report.checks if c.check == "secagg"]
    assert not check.passed
    assert check.hospital == forger
    assert "never dealt" in check.detail


def test_a_masked_update_claiming_another_weight_is_refused_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    study = _study(tmp_path, hospitals=3, threshold=2, rounds=1)
    for k in range(3):
        study.enroll(k, records(k, 5))
    liar = study.hospital(2)
    honest = secagg_hospital.SecAggHospital.masked_update

    def heavier(
        self: secagg_hospital.SecAggHospital, round_: int, delta: Mapping[str, Tensor], weight: int
    ) -> bytes:
        return honest(self, round_, delta, weight * 10 if self.hospital == liar else weight)

    monkeypatch.setattr(secagg_hospital.SecAggHospital, "masked_update", heavier)
    with pytest.raises(SecAggRoundError) as caught:
        study.run_round()
    assert caught.value.hospital == liar
    assert "weighs" in str(caught.value)


def test_an_aggregator_that_publishes_another_model_is_named_by_theaudit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    study = _study(tmp_path, hospitals=3, threshold=2, rounds=1)
    for k in range(3):
        study.enroll(k, records(k, 5))
    honest = secagg_aggregation.apply_mean
    monkeypatch.setattr(secagg_aggregation, "apply_mean", lambda base, mean: honest(base, mean * 2))
    study.run_round()
    report = audit(study, tmp_path)
    (check,) = [c for c in report.checks if c.check == "secagg"]
    assert not check.passed
    assert check.hospital is None
    assert "not base + the recomputed mean" in check.detail


def test_a_burned_hospital_rotates_its_key_and_rejoins_with_the_audit_passing(
    tmp_path: Path,
) -> None:
    study = _study(tmp_path, hospitals=4, threshold=2, rounds=3)
    for k in range(4):
        study.enroll(k, records(k, 5))
    for _ in range(2):
        for trainer in study.trainers.values():
            trainer.step()  # every hospital registers, then deals its key
    away = study.trainers.pop(3)  # misses round 0: its key epoch is burned at the close
    study.run_round()
    secagg = study.coordinator.secagg
    assert secagg is not None
    gone = study.hospital(3)
    assert secagg.get_keys(study.study, gone).burned_block != 0
    study.trainers[3] = away  # back: it registers and deals a fresh epoch
    for _ in range(2):
        away.step()
    history = secagg.key_history(study.study, gone)
    assert [k.epoch for k in history] == [0, 1]
    assert history[1].dealt
    assert history[1].from_round == 2  # round 1 opened when round 0 finalized: it binds round 2
    report1 = study.run_round()
    report2 = study.run_round()
    assert gone not in {h for h, _ in report1.aggregate.accepted}  # not on round 1's roster
    assert gone in {h for h, _ in report2.aggregate.accepted}
    assert secagg.keys_at(study.study, gone, 0) == history[0]  # round 0 keeps the burned epoch
    report = audit(study, tmp_path)
    assert report.passed, failed(report)
    assert len(secagg_details(report)) == 3
