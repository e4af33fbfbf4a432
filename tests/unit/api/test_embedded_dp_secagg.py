"""Privacy mode "dp+secagg" run by the trainer and aggregator roles (embedded: eth-tester, the
local store, real crypto, Opacus): each hospital runs record-level DP-SGD, charges the round on
the `PrivacyBudget` contract exactly as in mode "dp", then masks its noised update, which secure
aggregation sums; the audit runs both the secagg and the privacy-budget checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from api.app import create_app
from api.embedded import EmbeddedStudy
from api.privacy_status import privacy_spent
from api.services import Services
from api.settings import Settings
from consent.formats.privacy import PrivacyMode, PrivacySpec
from consent.privacy import DpTerms
from fl.learners import SgdDelta
from fl.models import ModelSpec
from fl.privacy import RecordDpLearner, calibrate_noise
from fl.roles import StudyPlan
from fl.train import LocalTrainingConfig
from tests.unit.api.secagg_rounds import (
    DeltaRecorder,
    assert_base_plus_fedavg,
    audit,
    failed,
    secagg_details,
)
from tests.unit.api.test_embedded_consent import records

MODEL = ModelSpec.linear(3, "classification")
TERMS = calibrate_noise(  # the smallest noise under which 2 round(s) fit the budget
    DpTerms(
        epsilon=8.0, delta=1e-5, noise_multiplier=1.0, max_grad_norm=1.0, sample_rate=0.5,
        steps_per_round=2,
    ),
    2,
)  # fmt: skip
PLAN = StudyPlan(
    model=MODEL,
    training=LocalTrainingConfig(epochs=1, batch_size=16, lr=0.5),
    round_timeout_s=0.0,
    privacy=PrivacySpec(mode=PrivacyMode.DP_SECAGG, threshold=2, dp=TERMS),
)


def status(study: EmbeddedStudy, tmp: Path, patient: str) -> dict[str, Any]:
    """The patient's consent status over the HTTP API (`GET .../consent`)."""
    services = Services.for_ledger(study.coordinator, store=study.store, proofs=tmp / "proofs")
    with TestClient(create_app(Settings(post_rate_limit=0), services=services)) as client:
        study_hex = "0x" + bytes(study.study).hex()
        response = client.get(f"/v1/studies/{study_hex}/patients/{patient}/consent")
    services.history.close()
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_dp_secagg_rounds_charge_the_budget_sum_the_noised_updates_and_pass_both_checks(
    tmp_path: Path,
) -> None:
    recorder = DeltaRecorder(RecordDpLearner(SgdDelta(), TERMS).local_step)  # noised deltas
    study = EmbeddedStudy.create(tmp_path, hospitals=3, plan=PLAN, rounds=2, train_fn=recorder)
    enrolments = [study.enroll(k, records(k, 6)) for k in range(3)]
    patient = enrolments[2].keys["h2-r0"].address
    assert status(study, tmp_path, patient)["privacy"]["epsilon_spent"] == 0.0
    first = study.run_round()
    recorder.deltas.clear()
    second = study.run_round()
    assert len(first.aggregate.accepted) == len(second.aggregate.accepted) == 3

    # the aggregator learned only the sum: the model is base + the FedAvg of the NOISED deltas
    assert_base_plus_fedavg(study, first.aggregate.model_cid, second.aggregate.model_cid, recorder)

    # the budget was charged on chain as in mode dp, for every hospital and round
    budget = study.coordinator.budget
    assert budget is not None
    for k in range(3):
        for round_ in (0, 1):
            assert budget.charged(study.study, round_, study.hospital(k)) is not None
        spent = privacy_spent(study.coordinator, study.study, study.hospital(k))
        assert spent is not None
        assert 0 < spent.epsilon_spent <= TERMS.epsilon
        assert spent.rounds_charged == [0, 1]

    # the patient's consent status shows what was spent on their hospital's data
    section = status(study, tmp_path, patient)["privacy"]
    mine = privacy_spent(study.coordinator, study.study, study.hospital(2))
    assert mine is not None
    assert section["hospital"] == study.hospital(2)
    assert section["epsilon_spent"] == mine.epsilon_spent > 0
    assert (section["epsilon_budget"], section["rounds_charged"]) == (TERMS.epsilon, [0, 1])

    report = audit(study, tmp_path)
    assert report.passed, failed(report)
    assert len(secagg_details(report)) == 2
    assert all("model matches" in d for d in secagg_details(report))
    charges = [c for c in report.checks if c.check == "privacy-budget" and c.subject == "charge"]
    assert len(charges) == 3 * 2
