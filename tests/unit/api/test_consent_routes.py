"""Consent status and relayed revocation through the HTTP API, on the eth-tester chain."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from eth_account import Account
from fastapi.testclient import TestClient

from api.app import create_app
from api.problems import PROBLEM_MEDIA_TYPE, PROBLEM_TYPE_PREFIX
from api.services import Services
from api.settings import Settings
from chain.manifest import save_manifest
from consent.eip712 import sign_revocation
from tests.unit.api.conftest import ApiWorld


def _path(api: ApiWorld, patient: int, what: str = "revocation") -> str:
    return f"/v1/studies/{api.study_hex}/patients/{api.world.patient(patient)}/{what}"


def _body(api: ApiWorld, patient: int, **overrides: Any) -> dict[str, Any]:
    deadline = overrides.pop("deadline", api.world.chain.block_timestamp() + 600)
    signature = api.world.revocation_sig(
        patient, deadline=deadline, nonce=overrides.pop("sn", None)
    )
    return {"signature": "0x" + signature.hex(), "deadline": deadline, **overrides}


def _assert_problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body: dict[str, Any] = response.json()
    assert body["type"] == PROBLEM_TYPE_PREFIX + slug
    assert body["status"] == status
    return body


def test_signed_revocation_is_relayed_and_returns_tx_hash_and_block(api: ApiWorld) -> None:
    api.world.grant(0)

    response = api.client.post(_path(api, 0), json=_body(api, 0))

    assert response.status_code == 201, response.text
    body = response.json()
    record = api.world.coordinator.consents.record(api.world.study, api.world.patient(0))
    assert body["block_number"] == record.revoked_block
    assert body["already_revoked"] is False
    assert body["tx_hash"].startswith("0x")
    assert len(body["tx_hash"]) == 66
    assert not api.world.coordinator.consents.is_consented(api.world.study, api.world.patient(0))


def test_revoking_again_returns_the_original_revocation_without_a_transaction(
    api: ApiWorld,
) -> None:
    api.world.grant(0)
    request = _body(api, 0)
    first = api.client.post(_path(api, 0), json=request).json()
    block = api.world.chain.block_number()

    again = api.client.post(_path(api, 0), json=request)

    assert again.status_code == 200, again.text
    assert again.json() == {**first, "already_revoked": True}
    assert api.world.chain.block_number() == block


def test_consent_status_lists_grant_and_revocation_with_blocks_tx_hashes_and_times(
    api: ApiWorld,
) -> None:
    granted = api.world.grant(0)
    revoked = api.client.post(_path(api, 0), json=_body(api, 0)).json()

    response = api.client.get(_path(api, 0, "consent"))

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["consented"] is False
    assert body["revoked_block"] == revoked["block_number"]
    assert [(e["kind"], e["block_number"], e["tx_hash"]) for e in body["history"]] == [
        ("granted", granted.position.block_number, granted.tx_hash),
        ("revoked", revoked["block_number"], revoked["tx_hash"]),
    ]
    assert all(e["timestamp"] > 0 for e in body["history"])


def test_consented_patient_status_is_consented_with_current_nonce(api: ApiWorld) -> None:
    api.world.grant(2, hospital=1)

    body = api.client.get(_path(api, 2, "consent")).json()

    assert body["consented"] is True
    assert body["hospital"] == api.world.hospitals[1].studies.sender.address  # type: ignore[union-attr]
    assert body["nonce"] == api.world.coordinator.consents.revocation_nonce(
        api.world.study, api.world.patient(2)
    )
    assert [e["kind"] for e in body["history"]] == ["granted"]


def test_signature_by_another_key_is_401_and_nothing_reaches_the_chain(api: ApiWorld) -> None:
    api.world.grant(0)
    block = api.world.chain.block_number()
    consents = api.world.coordinator.consents
    deadline = api.world.chain.block_timestamp() + 600
    forged = sign_revocation(
        Account.create().key,
        consents.domain,
        api.world.study,
        api.world.patient(0),
        consents.revocation_nonce(api.world.study, api.world.patient(0)),
        deadline,
    )

    response = api.client.post(
        _path(api, 0), json={"signature": "0x" + forged.hex(), "deadline": deadline}
    )

    _assert_problem(response, 401, "invalid-signature")
    assert response.headers["WWW-Authenticate"] == 'EIP712 realm="consentfl ConsentRegistry"'
    assert api.world.chain.block_number() == block
    assert consents.is_consented(api.world.study, api.world.patient(0))


def test_replayed_signature_of_a_used_nonce_is_409(api: ApiWorld) -> None:
    api.world.grant(0)
    old = _body(api, 0)
    assert api.client.post(_path(api, 0), json=old).status_code == 201
    api.world.grant(0)

    _assert_problem(api.client.post(_path(api, 0), json=old), 409, "replayed-signature")


def test_nonce_that_is_not_current_is_409_nonce_mismatch(api: ApiWorld) -> None:
    api.world.grant(0)
    current = api.world.coordinator.consents.revocation_nonce(api.world.study, api.world.patient(0))

    response = api.client.post(_path(api, 0), json=_body(api, 0, nonce=current + 1))

    _assert_problem(response, 409, "nonce-mismatch")


def test_passed_deadline_is_422_deadline_expired(api: ApiWorld) -> None:
    api.world.grant(0)
    past = api.world.chain.block_timestamp() - 1

    _assert_problem(
        api.client.post(_path(api, 0), json=_body(api, 0, deadline=past)), 422, "deadline-expired"
    )


def test_unknown_study_and_never_consented_patient_are_404(api: ApiWorld) -> None:
    api.world.grant(0)
    unknown = f"/v1/studies/no-such-study/patients/{api.world.patient(0)}/revocation"

    _assert_problem(api.client.post(unknown, json=_body(api, 0)), 404, "unknown-study")
    _assert_problem(api.client.post(_path(api, 3), json=_body(api, 3)), 404, "patient-not-enrolled")
    _assert_problem(api.client.get(_path(api, 3, "consent")), 404, "patient-not-enrolled")


def test_study_given_by_name_is_the_same_study(api: ApiWorld) -> None:
    api.world.grant(0)

    response = api.client.get(f"/v1/studies/unit-study/patients/{api.world.patient(0)}/consent")

    assert response.status_code == 200
    assert response.json()["study"] == api.study_hex


def test_malformed_input_is_rejected_before_the_chain(api: ApiWorld) -> None:
    api.world.grant(0)
    bad_address = f"/v1/studies/{api.study_hex}/patients/0x1234/revocation"

    _assert_problem(api.client.post(bad_address, json=_body(api, 0)), 400, "invalid-identifier")
    _assert_problem(
        api.client.get(f"/v1/studies/{api.study_hex}/rounds/not-a-number"),
        400,
        "invalid-identifier",
    )
    _assert_problem(
        api.client.post(_path(api, 0), json={**_body(api, 0), "nonce": 2**256}),
        422,
        "invalid-request",
    )
    _assert_problem(
        api.client.post(_path(api, 0), json={"signature": "0x12", "deadline": 1}),
        422,
        "invalid-request",
    )
    _assert_problem(
        api.client.post(
            _path(api, 0), content=b"{not json", headers={"content-type": "application/json"}
        ),
        400,
        "malformed-body",
    )
    _assert_problem(
        api.client.post(_path(api, 0), json={**_body(api, 0), "extra": "field"}),
        422,
        "invalid-request",
    )


def test_oversized_body_is_413_even_without_content_length(api: ApiWorld) -> None:
    big = {**_body(api, 0), "pad": "x" * 10_000}

    _assert_problem(api.client.post(_path(api, 0), json=big), 413, "body-too-large")

    def chunks() -> Any:
        for _ in range(10):
            yield b"x" * 1_000

    streamed = api.client.post(
        _path(api, 0), content=chunks(), headers={"content-type": "application/json"}
    )
    _assert_problem(streamed, 413, "body-too-large")


def test_unknown_route_is_a_problem_document(api: ApiWorld) -> None:
    _assert_problem(api.client.get("/v1/nothing-here"), 404, "not-found")


def test_without_a_relayer_key_revocation_is_503_relayer_unavailable(api: ApiWorld) -> None:
    api.world.grant(0)
    services = Services.for_ledger(api.world.coordinator)
    client = TestClient(create_app(Settings(), services=services))

    response = client.post(_path(api, 0), json=_body(api, 0))

    _assert_problem(response, 503, "relayer-unavailable")
    assert response.headers["Retry-After"] == "5"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_chain_down_is_503_with_retry_after_never_500(api: ApiWorld, tmp_path: Path) -> None:
    manifest = tmp_path / "deployment.json"
    save_manifest(api.world.manifest, manifest)
    settings = Settings(
        deployment=manifest,
        rpc=f"http://127.0.0.1:{_closed_port()}",
        ipfs=str(tmp_path / "store"),
        retry_after_seconds=7,
        chain_timeout_seconds=2,
    )
    client = TestClient(create_app(settings))
    patient = api.world.patient(0)

    for response in (
        client.post(f"/v1/studies/s/patients/{patient}/revocation", json=_body(api, 0)),
        client.get(f"/v1/studies/s/patients/{patient}/consent"),
        client.get("/v1/studies/s/rounds"),
        client.get("/v1/studies/s/audit"),
    ):
        _assert_problem(response, 503, "chain-unavailable")
        assert response.headers["Retry-After"] == "7"
    health = client.get("/v1/health")
    assert health.status_code == 503
    assert health.json()["chain"]["ok"] is False
