"""Privacy mode "dp+secagg" run by the trainer and aggregator roles (embedded: eth-tester, the
local store, real crypto, Opacus): each hospital runs record-level DP-SGD, charges the round on
the `PrivacyBudget` contract exactly as in mode "dp", then masks its noised update, which secure
aggregation sums; the audit runs both the secagg and the privacy-budget checks."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from fastapi.testclient import TestClient
from torch import Tensor

from api.app import create_app
from api.embedded import EmbeddedStudy
from api.privacy_status import privacy_spent
from api.services import Services
from api.settings import Settings
from api.wiring import default_audit_checks
from chain.audit import AuditReport, AuditVerifier
from chain.exclusions import ExclusionProofs
from consent.formats.privacy import PrivacyMode, PrivacySpec
from consent.privacy import DpTerms
from consent.secagg import RingParams
from consent.secagg.model import flatten, load_tensors
from fl.data import HospitalDataset
from fl.learners import SgdDelta
from fl.models import ModelSpec
from fl.privacy import RecordDpLearner, calibrate_noise
from fl.roles import StudyPlan
from fl.train import LocalResult, LocalTrainingConfig
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


class NoisedDeltaRecorder:
    """The real DP-SGD local step, remembering each hospital's noised delta (in call order)."""

    def __init__(self) -> None:
        self.deltas: list[tuple[int, Mapping[str, Tensor]]] = []

    def __call__(
        self,
        spec: ModelSpec,
        base: Mapping[str, Tensor],
        data: HospitalDataset,
        config: LocalTrainingConfig,
    ) -> LocalResult:
        result = RecordDpLearner(SgdDelta(), TERMS).local_step(spec, base, data, config)
        self.deltas.append((len(data.distinct_patients()), result.delta))
        return result


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


def _audit(study: EmbeddedStudy, tmp: Path) -> AuditReport:
    proofs = tmp / "proofs"
    study.write_exclusion_proofs(proofs)
    verifier = AuditVerifier(
        study.coordinator, study.store, ExclusionProofs.load(proofs), checks=default_audit_checks()
    )
    return verifier.verify(study.study)


def test_dp_secagg_rounds_charge_the_budget_sum_the_noised_updates_and_pass_both_checks(
    tmp_path: Path,
) -> None:
    recorder = NoisedDeltaRecorder()
    study = EmbeddedStudy.create(tmp_path, hospitals=3, plan=PLAN, rounds=2, train_fn=recorder)
    enrolments = [study.enroll(k, records(k, 6)) for k in range(3)]
    patient = enrolments[2].keys["h2-r0"].address
    assert status(study, tmp_path, patient)["privacy"]["epsilon_spent"] == 0.0
    first = study.run_round()
    recorder.deltas.clear()
    second = study.run_round()
    assert len(first.aggregate.accepted) == len(second.aggregate.accepted) == 3

    # the aggregator learned only the sum: the model is base + the FedAvg of the NOISED deltas
    base = load_tensors(study.store.get(first.aggregate.model_cid))
    model = load_tensors(study.store.get(second.aggregate.model_cid))
    weights = np.array([n for n, _ in recorder.deltas], dtype=np.float64)
    deltas = [flatten({k: v.numpy() for k, v in d.items()}) for _, d in recorder.deltas]
    expected = sum(w * d.astype(np.float64) for w, d in zip(weights, deltas, strict=True))
    step = flatten(model).astype(np.float64) - flatten(base).astype(np.float64)
    assert np.max(np.abs(step - expected / weights.sum())) <= RingParams().max_error + 1e-6

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

    report = _audit(study, tmp_path)
    failed = [f"{c.check}: {c.detail}" for c in report.checks if not c.passed]
    assert report.passed, failed
    secagg = [c for c in report.checks if c.check == "secagg"]
    assert len(secagg) == 2
    assert all("model matches" in c.detail for c in secagg)
    charges = [c for c in report.checks if c.check == "privacy-budget" and c.subject == "charge"]
    assert len(charges) == 3 * 2
