"""The patient's consent status in an `unlearn` study (issue 16): pending while the model in use
may carry their data, then "revoked at block B; the current model (round r, CID) never trained
on your data" with the verified lineage proofs and the time it took; a forward study says it
does not retrain."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from api.embedded import EmbeddedStudy
from api.services import Services
from api.settings import Settings
from consent.formats.revocation import RevocationPolicy
from tests.unit.api.test_embedded_consent import records
from tests.unit.chain.audit.test_lineage_check import PLAN


def status(study: EmbeddedStudy, proofs: Path, patient: str) -> dict[str, object]:
    services = Services.for_ledger(study.coordinator, store=study.store, proofs=proofs)
    app = create_app(Settings(post_rate_limit=0), services=services)
    with TestClient(app) as client:
        study_hex = "0x" + bytes(study.study).hex()
        response = client.get(f"/v1/studies/{study_hex}/patients/{patient}/consent")
    services.history.close()
    assert response.status_code == 200, response.text
    body = response.json()
    assert isinstance(body, dict)
    return body


def test_the_status_says_pending_then_never_trained_on_with_proof_and_time(
    tmp_path: Path,
) -> None:
    study = EmbeddedStudy.create(tmp_path, hospitals=2, plan=PLAN, rounds=2)
    try:
        enrolments = [study.enroll(k, records(k, 10)) for k in range(2)]
        study.run_round()
        study.run_round()
        patient = enrolments[0].keys["h0-r1"]
        assert status(study, tmp_path / "proofs", patient.address)["unlearning"] is None
        revoked = study.revoke(patient)

        pending = status(study, tmp_path / "proofs", patient.address)["unlearning"]
        assert isinstance(pending, dict)
        assert pending["state"] == "pending"
        assert pending["head_round"] == 1
        assert pending["lineage"] == [0, 1]

        while not study.aggregator.done():
            study.run_round()
        proofs = tmp_path / "proofs"
        study.write_exclusion_proofs(proofs)
        done = status(study, proofs, patient.address)["unlearning"]
        assert isinstance(done, dict)
        head = study.aggregator.current_round()
        assert head is not None
        assert done["state"] == "unlearned"
        assert done["message"] == (
            f"revoked at block {revoked.position.block_number}; the current model "
            f"(round {head.round}, {head.model_cid}) never trained on your data"
        )
        assert done["rollback_round"] == 2
        assert done["lineage"] == [2, 3]
        assert [(p["round"], p["verified"]) for p in done["proofs"]] == [(2, True), (3, True)]
        assert done["rounds_to_clean_head"] == 1
        assert isinstance(done["seconds_to_clean_head"], int)
        assert done["seconds_to_clean_head"] >= 0
    finally:
        study.close()


def test_a_forward_study_says_it_does_not_retrain(tmp_path: Path) -> None:
    plan = replace(PLAN, revocation=RevocationPolicy())
    study = EmbeddedStudy.create(tmp_path, hospitals=1, plan=plan, rounds=1)
    try:
        patient = study.enroll(0, records(0, 6)).keys["h0-r0"]
        study.run_round()
        study.revoke(patient)
        section = status(study, tmp_path / "proofs", patient.address)["unlearning"]
        assert isinstance(section, dict)
        assert section["state"] == "forward"
        assert "does not retrain" in str(section["message"])
    finally:
        study.close()
