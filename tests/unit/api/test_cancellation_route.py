"""Relayed cancellation of pending consent signatures (`POST .../cancellation`), on eth-tester."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from fastapi.testclient import TestClient

from api.app import create_app
from api.problems import PROBLEM_MEDIA_TYPE, PROBLEM_TYPE_PREFIX
from api.services import Services
from api.settings import Settings
from chain.errors import InvalidSignerError
from consent.eip712 import sign_cancellation
from tests.fixtures.ledger import DEADLINE
from tests.unit.api.conftest import ApiWorld


def _path(api: ApiWorld, patient: int) -> str:
    return f"/v1/studies/{api.study_hex}/patients/{api.world.patient(patient)}/cancellation"


def _body(
    api: ApiWorld,
    patient: int,
    *,
    key: bytes | None = None,
    nonce: int | None = None,
    deadline: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    consents = api.world.coordinator.consents
    address = api.world.patient(patient)
    deadline = api.world.chain.block_timestamp() + 600 if deadline is None else deadline
    signed_nonce = consents.revocation_nonce(api.world.study, address) if nonce is None else nonce
    signature = sign_cancellation(
        key or api.world.patients[patient].key,
        consents.domain,
        api.world.study,
        address,
        signed_nonce,
        deadline,
    )
    return {"signature": "0x" + signature.hex(), "deadline": deadline, **extra}


def _assert_problem(response: Any, status: int, slug: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert response.json()["type"] == PROBLEM_TYPE_PREFIX + slug


def _state(api: ApiWorld, patient: int) -> tuple[int, int, int]:
    """(block, grant nonce, revocation nonce): what a refused request must leave as it was."""
    consents = api.world.coordinator.consents
    address = api.world.patient(patient)
    return (
        api.world.chain.block_number(),
        consents.grant_nonce(api.world.study, address),
        consents.revocation_nonce(api.world.study, address),
    )


def test_relayed_cancellation_kills_the_pending_consent_signature(api: ApiWorld) -> None:
    hospital = api.world.hospitals[0]
    pending = api.world.consent_sig(0, hospital)  # signed, held by the hospital, not submitted
    before = _state(api, 0)

    response = api.client.post(_path(api, 0), json=_body(api, 0))

    assert response.status_code == 201, response.text
    body = response.json()
    consents = api.world.coordinator.consents
    assert body["next_grant_nonce"] == consents.grant_nonce(api.world.study, api.world.patient(0))
    assert body["next_grant_nonce"] == before[1] + 1
    assert body["block_number"] == api.world.chain.block_number() == before[0] + 1
    assert body["patient"] == api.world.patient(0)
    assert len(body["tx_hash"]) == 66
    with pytest.raises(InvalidSignerError):
        hospital.consents.grant(api.world.study, api.world.patient(0), 0, DEADLINE, pending)
    assert not consents.is_consented(api.world.study, api.world.patient(0))


def test_cancellation_leaves_a_granted_consent_in_place(api: ApiWorld) -> None:
    api.world.grant(1)

    assert api.client.post(_path(api, 1), json=_body(api, 1)).status_code == 201

    assert api.world.coordinator.consents.is_consented(api.world.study, api.world.patient(1))


def test_cancellation_signed_by_another_key_is_401_and_nothing_changes(api: ApiWorld) -> None:
    hospital = api.world.hospitals[0]
    pending = api.world.consent_sig(0, hospital)
    before = _state(api, 0)

    response = api.client.post(_path(api, 0), json=_body(api, 0, key=Account.create().key))

    _assert_problem(response, 401, "invalid-signature")
    assert response.headers["WWW-Authenticate"] == 'EIP712 realm="consentfl ConsentRegistry"'
    assert _state(api, 0) == before
    # the pending signature still works: nothing was cancelled
    hospital.consents.grant(api.world.study, api.world.patient(0), 0, DEADLINE, pending)
    assert api.world.coordinator.consents.is_consented(api.world.study, api.world.patient(0))


def test_revocation_signature_is_not_a_cancellation(api: ApiWorld) -> None:
    deadline = api.world.chain.block_timestamp() + 600
    revocation = api.world.revocation_sig(0, deadline=deadline)  # same fields, another type
    before = _state(api, 0)

    response = api.client.post(
        _path(api, 0), json={"signature": "0x" + revocation.hex(), "deadline": deadline}
    )

    _assert_problem(response, 401, "invalid-signature")
    assert _state(api, 0) == before


def test_replayed_cancellation_is_409_without_a_transaction(api: ApiWorld) -> None:
    request = _body(api, 2)
    assert api.client.post(_path(api, 2), json=request).status_code == 201
    before = _state(api, 2)

    _assert_problem(api.client.post(_path(api, 2), json=request), 409, "replayed-signature")
    assert _state(api, 2) == before


def test_nonce_that_is_not_current_is_409_nonce_mismatch(api: ApiWorld) -> None:
    before = _state(api, 0)
    ahead = before[2] + 1

    response = api.client.post(_path(api, 0), json={**_body(api, 0, nonce=ahead), "nonce": ahead})

    _assert_problem(response, 409, "nonce-mismatch")
    assert _state(api, 0) == before


def test_passed_deadline_is_422_and_unknown_study_404(api: ApiWorld) -> None:
    before = _state(api, 0)
    past = api.world.chain.block_timestamp() - 1

    _assert_problem(
        api.client.post(_path(api, 0), json=_body(api, 0, deadline=past)), 422, "deadline-expired"
    )
    unknown = f"/v1/studies/no-such-study/patients/{api.world.patient(0)}/cancellation"
    _assert_problem(api.client.post(unknown, json=_body(api, 0)), 404, "unknown-study")
    assert _state(api, 0) == before


def test_without_a_relayer_key_cancellation_is_503(api: ApiWorld) -> None:
    client = TestClient(create_app(Settings(), services=Services.for_ledger(api.world.coordinator)))

    _assert_problem(client.post(_path(api, 0), json=_body(api, 0)), 503, "relayer-unavailable")
