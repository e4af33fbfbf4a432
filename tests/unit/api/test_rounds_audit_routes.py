"""Rounds, audit report and health through the HTTP API, over a recorded two-round study."""

from __future__ import annotations

import hashlib

from api.report import render_audit_html
from chain.audit import AuditVerifier
from chain.exclusions import ExclusionProofs
from tests.unit.api.conftest import ApiWorld
from tests.unit.chain.audit_history import build_history


def test_rounds_list_and_detail_carry_hashes_cids_data_roots_and_consent_blocks(
    api: ApiWorld,
) -> None:
    history = build_history(api.world, api.store, api.proofs)
    ledger = api.world.coordinator.rounds

    listing = api.client.get(f"/v1/studies/{api.study_hex}/rounds").json()
    detail = api.client.get(f"/v1/studies/{api.study_hex}/rounds/1").json()

    assert listing["count"] == 2
    assert [r["model_cid"] for r in listing["rounds"]] == list(history.model_cids)
    assert listing["rounds"][1]["base_model_cid"] == history.model_cids[0]
    model = api.store.get(history.model_cids[1])
    assert detail["model_hash"] == "0x" + hashlib.sha256(model).hexdigest()
    assert detail["metrics_cid"] == history.metrics_cids[1]
    on_chain = ledger.get_updates(api.world.study, 1)
    assert [
        (u["hospital"], u["update_cid"], u["data_root"], u["consent_block"])
        for u in detail["updates"]
    ] == [(u.hospital, u.update_cid, "0x" + u.data_root.hex(), u.consent_block) for u in on_chain]


def test_round_paging_and_unknown_round(api: ApiWorld) -> None:
    build_history(api.world, api.store, api.proofs)

    page = api.client.get(f"/v1/studies/{api.study_hex}/rounds?offset=1&limit=5").json()
    missing = api.client.get(f"/v1/studies/{api.study_hex}/rounds/2")

    assert [r["round"] for r in page["rounds"]] == [1]
    assert missing.status_code == 404
    assert missing.json()["type"].endswith("unknown-round")


def test_audit_endpoint_passes_honest_history_and_names_a_tampered_artifact(
    api: ApiWorld,
) -> None:
    history = build_history(api.world, api.store, api.proofs)
    honest = api.client.get(f"/v1/studies/{api.study_hex}/audit").json()
    for path in api.store.block_paths(history.update_cids[0][1]):
        path.unlink()

    tampered = api.client.get(f"/v1/studies/{api.study_hex}/audit").json()

    assert honest["passed"] is True
    assert any(c["check"] == "exclusion" and c["passed"] for c in honest["checks"])
    failed = [c for c in tampered["checks"] if not c["passed"]]
    assert tampered["passed"] is False
    assert [(c["check"], c["round"], c["hospital"]) for c in failed] == [
        ("artifact", 0, api.world.hospitals[1].studies.sender.address)  # type: ignore[union-attr]
    ]


def test_health_reports_chain_contracts_and_store_ok(api: ApiWorld) -> None:
    response = api.client.get("/v1/health")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert all(body[part]["ok"] for part in ("chain", "contracts", "store"))


def test_html_report_shows_verdict_and_escapes_failures(api: ApiWorld) -> None:
    build_history(api.world, api.store, api.proofs, write_proofs=False)
    report = AuditVerifier(api.world.coordinator, api.store, ExclusionProofs()).verify(
        api.world.study
    )

    page = render_audit_html(report)

    assert "FAILED" in page
    assert page.count('class="fail"><td class="fail">FAIL') == len(report.failures) == 1
    assert "no non-membership proof" in page
