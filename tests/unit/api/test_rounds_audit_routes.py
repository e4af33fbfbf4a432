"""Rounds, audit report and health through the HTTP API, over a recorded two-round study."""

from __future__ import annotations

import hashlib
import time
from typing import Any, ClassVar

from web3.middleware.base import Web3Middleware

from api.audit_cache import AuditCache
from api.report import render_audit_html
from chain.audit import AuditVerifier
from chain.exclusions import ExclusionProofs
from tests.unit.api.conftest import ApiWorld
from tests.unit.chain.audit_history import build_history


def test_rounds_list_and_detail_carry_hashes_cids_data_roots_and_consent_blocks(
    api: ApiWorld,
) -> None:
    # round 1's metrics as written before decisions and values existed (round-metrics/1)
    history = build_history(api.world, api.store, api.proofs, decisions="v1")
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
    # this history's metrics predate decisions and values: listed as absent, not invented
    assert (detail["decisions"], detail["contributions"]) == (None, None)


def test_round_paging_and_unknown_round(api: ApiWorld) -> None:
    build_history(api.world, api.store, api.proofs)

    page = api.client.get(f"/v1/studies/{api.study_hex}/rounds?offset=1&limit=5").json()
    missing = api.client.get(f"/v1/studies/{api.study_hex}/rounds/2")

    assert [r["round"] for r in page["rounds"]] == [1]
    assert missing.status_code == 404
    assert missing.json()["type"].endswith("unknown-round")


def _current_audit(api: ApiWorld, timeout: float = 120) -> dict[str, Any]:
    """Poll GET /audit as a client would until it answers the report for the current block."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = api.client.get(f"/v1/studies/{api.study_hex}/audit")
        assert response.status_code in (200, 202), response.text
        body: dict[str, Any] = response.json()
        if response.status_code == 200 and body["up_to_date"]:
            return body
        assert int(response.headers["Retry-After"]) >= 1
        time.sleep(0.05)
    raise AssertionError("no current audit report")


def test_audit_endpoint_passes_honest_history_and_names_a_tampered_artifact(
    api: ApiWorld,
) -> None:
    history = build_history(api.world, api.store, api.proofs)
    honest = _current_audit(api)
    for path in api.store.block_paths(history.update_cids[0][1]):
        path.unlink()
    assert api.world.chain.tester is not None
    api.world.chain.tester.mine_blocks(1)

    tampered = _current_audit(api)

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


def test_audit_is_computed_off_the_request_path_once_per_block(api: ApiWorld) -> None:
    build_history(api.world, api.store, api.proofs)
    cache: AuditCache = api.client.app.state.audits  # type: ignore[attr-defined]
    path = f"/v1/studies/{api.study_hex}/audit"

    first = api.client.get(path)
    report = _current_audit(api)
    computed = cache.computations
    again = [api.client.get(path).json() for _ in range(5)]

    assert first.status_code == 202, first.text
    assert first.json()["status"] == "computing"
    assert int(first.headers["Retry-After"]) >= 1
    assert report["block"] >= report["head_block"] == api.world.chain.block_number()
    assert computed == 1
    assert cache.computations == 1
    assert all(a["up_to_date"] and a["computed_at"] == report["computed_at"] for a in again)


def test_a_new_block_serves_the_old_report_marked_stale_while_the_new_one_is_computed(
    api: ApiWorld,
) -> None:
    build_history(api.world, api.store, api.proofs)
    old = _current_audit(api)
    assert api.world.chain.tester is not None
    api.world.chain.tester.mine_blocks(1)

    stale = api.client.get(f"/v1/studies/{api.study_hex}/audit")
    new = _current_audit(api)

    assert stale.status_code == 200
    assert stale.json()["up_to_date"] is False
    assert stale.json()["block"] == old["block"] < stale.json()["head_block"]
    assert int(stale.headers["Retry-After"]) >= 1
    assert new["block"] == old["block"] + 1


def test_a_withdrawn_proof_invalidates_the_cached_report_without_a_new_block(
    api: ApiWorld,
) -> None:
    history = build_history(api.world, api.store, api.proofs)
    proven = _current_audit(api)
    block = api.world.chain.block_number()
    history.proof_file.unlink()

    unproven = _current_audit(api)

    assert api.world.chain.block_number() == block
    assert proven["passed"] is True
    assert unproven["passed"] is False
    assert [c["check"] for c in unproven["checks"] if not c["passed"]] == ["exclusion"]


class _CountRequests(Web3Middleware):
    """Records the JSON-RPC method of every request (the test adds and removes it)."""

    methods: ClassVar[list[str]] = []

    def wrap_make_request(self, make_request: Any) -> Any:
        def middleware(method: Any, params: Any) -> Any:
            self.methods.append(str(method))
            return make_request(method, params)

        return middleware


def test_a_cached_report_costs_one_chain_request_and_an_unknown_study_stays_404(
    api: ApiWorld,
) -> None:
    build_history(api.world, api.store, api.proofs)
    _current_audit(api)
    w3 = api.world.chain.w3
    _CountRequests.methods = []
    w3.middleware_onion.add(_CountRequests, name="count-requests")
    try:
        cached = api.client.get(f"/v1/studies/{api.study_hex}/audit")
        methods = list(_CountRequests.methods)
        unknown = api.client.get("/v1/studies/no-such-study/audit")
    finally:
        w3.middleware_onion.remove("count-requests")

    assert cached.status_code == 200
    assert cached.json()["up_to_date"] is True
    assert methods == ["eth_blockNumber"]  # the head block; no studyExists call
    assert unknown.status_code == 404
    assert unknown.json()["type"].endswith("unknown-study")
