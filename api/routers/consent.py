"""Patients' consent: status with history, relayed revocation and withdrawal of purposes."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status
from starlette.concurrency import run_in_threadpool

from api.deps import PatientParam, PatientPath, ServicesDep, StudyParam, StudyPath, services_of
from api.privacy_status import privacy_spent
from api.problems import problem_responses
from api.receipts import receipt_if_signable
from api.schemas import (
    ConsentEventOut,
    ConsentStatusOut,
    PurposeRevocationOut,
    PurposeRevocationRequest,
    RevocationOut,
    RevocationRequest,
    hex32,
)
from api.unlearning import unlearning_status
from chain.consent_registry import ConsentRecord
from chain.deploy import Ledger
from chain.errors import UnknownStudyError
from chain.purpose_relay import relay_purpose_revocation
from chain.relay import PatientNotEnrolledError
from consent.events import PurposesRevoked
from consent.ids import Address, StudyId, parse_address, study_id
from consent.purposes import ConsentScope, covers

__all__ = ["router"]

router = APIRouter(prefix="/v1/studies/{study}/patients/{patient}", tags=["consent"])


@router.post(
    "/revocation",
    response_model=RevocationOut,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": RevocationOut, "description": "Already revoked: the original revocation"},
        **problem_responses(400, 401, 404, 409, 413, 422, 502, 503),
    },
    summary="Revoke consent with the patient's EIP-712 signature",
)
async def revoke(
    study: StudyPath, patient: PatientPath, body: RevocationRequest, request: Request
) -> Response:
    """Checks the signature, relays `revokeWithSig`, waits for the receipt.

    201 with the new revocation's tx hash and block; 200 with the original revocation if the
    consent was already revoked (no transaction is sent). 401 when the signature is not the
    patient's for the current nonce, 409 for a signature or nonce already used, 404 for an unknown
    study or a patient who never consented, 422 for a passed deadline, 503 when the chain is down
    (nothing was revoked: retry the same request).
    """
    # async, with all the blocking work in one worker-thread hop, and the response serialized
    # there too: a sync route pays a hop for the endpoint, two for the services dependency and
    # one for the response's validation (the hot path of `bench/bench_api.py`). The path
    # parameters are parsed here, not by `StudyParam` / `PatientParam` dependencies: FastAPI's
    # `solve_dependencies` per sub-dependency was ~10% of a relayed revocation's profiled CPU
    # (session 11); the OpenAPI parameters and the 422s for bad ones are the same.
    return await run_in_threadpool(_revoke, request, study_id(study), parse_address(patient), body)


def _revoke(
    request: Request, study: StudyId, patient: Address, body: RevocationRequest
) -> Response:
    """`revoke`'s work, in a worker thread: relay, then the `RevocationOut` as JSON."""
    with services_of(request) as services:
        relay = services.require_relay()
        relayed = relay.revoke(
            study,
            patient,
            deadline=body.deadline,
            signature=bytes.fromhex(body.signature[2:]),
            nonce=body.nonce,
        )
        event = relayed.event
        out = RevocationOut(
            study=hex32(study),
            patient=event.patient,
            hospital=event.hospital,
            tx_hash=event.tx_hash,
            block_number=event.position.block_number,
            log_index=event.position.log_index,
            block_timestamp=event.block_timestamp,
            already_revoked=relayed.already_revoked,
            receipt=receipt_if_signable(relay.consents, event, services.receipt_signer),
        )
    code = status.HTTP_200_OK if relayed.already_revoked else status.HTTP_201_CREATED
    return Response(out.model_dump_json(), status_code=code, media_type="application/json")


@router.post(
    "/purpose-revocation",
    response_model=PurposeRevocationOut,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(400, 401, 404, 409, 413, 422, 502, 503),
    summary="Withdraw some purposes of a consent with the patient's EIP-712 signature",
)
def revoke_purposes(
    study: StudyParam,
    patient: PatientParam,
    body: PurposeRevocationRequest,
    services: ServicesDep,
) -> PurposeRevocationOut:
    """Checks and relays `revokePurposesWithSig`: the listed DUO purposes are withdrawn, the rest
    stays granted; withdrawing the last one revokes the consent. If what remains no longer covers
    the study's purpose the consent stops counting for it. 401 for a signature that is not the
    patient's `PurposeRevocation` over the current revocation nonce, 409 when the consent is
    already revoked, 422 for unknown codes or purposes the consent does not grant, 503 when the
    chain is down (nothing changed)."""
    relay = services.require_relay()
    scope = ConsentScope.parse(body.purposes)
    event = relay_purpose_revocation(
        relay,
        study,
        patient,
        scope,
        deadline=body.deadline,
        signature=bytes.fromhex(body.signature[2:]),
    )
    remaining = event.remaining if isinstance(event, PurposesRevoked) else 0
    return PurposeRevocationOut(
        study=hex32(study),
        patient=event.patient,
        hospital=event.hospital,
        revoked=list(scope.codes),
        remaining=list(ConsentScope.from_mask(remaining).codes) if remaining else [],
        fully_revoked=not remaining,
        tx_hash=event.tx_hash,
        block_number=event.position.block_number,
        block_timestamp=event.block_timestamp,
    )


@router.get(
    "/consent",
    response_model=ConsentStatusOut,
    responses=problem_responses(400, 404, 422, 502, 503),
    summary="A patient's consent status and history",
)
def consent_status(
    study: StudyParam, patient: PatientParam, services: ServicesDep
) -> ConsentStatusOut:
    """Whether the patient consents now, the current record, the nonce each signature type of
    `GET /v1/eip712` must carry next (`nonces`, keyed by primary type), and every grant and
    revocation (block, tx hash, time). A consent granted in a batch of first consents whose
    per-patient record is not written yet is answered from its batch proof (`batch` names the
    batch). 404 for an unknown study or a patient who never consented."""
    ledger = services.ledger
    if not ledger.studies.study_exists(study):
        raise UnknownStudyError({"study_id": bytes(study)})
    record, consented, batch = _record_now(ledger, study, patient)
    revocation_nonce = ledger.consents.revocation_nonce(study, patient)
    grant_nonce = ledger.consents.grant_nonce(study, patient)
    study_purpose = ledger.studies.study_purpose(study)
    scope = ConsentScope.from_mask(record.purposes) if record.purposes else None
    history = services.history.history(study, patient)
    return ConsentStatusOut(
        study=hex32(study),
        patient=patient,
        consented=consented,
        hospital=record.hospital,
        granted_block=record.granted_block,
        revoked_block=record.revoked_block or None,
        expires_at=record.expires_at,
        valid_from=record.valid_from,
        purposes=list(scope.codes) if scope is not None else [],
        study_purpose=None if study_purpose is None else str(study_purpose),
        covers_study=scope is not None and covers(scope, study_purpose),
        nonce=revocation_nonce,
        nonces={
            "Consent": grant_nonce,
            "Revocation": revocation_nonce,
            "Cancellation": revocation_nonce,
            "PurposeRevocation": revocation_nonce,
        },
        history=[ConsentEventOut.of(e) for e in history],
        batch=batch,
        unlearning=unlearning_status(ledger, services.store, services.proofs, study, history),
        privacy=privacy_spent(ledger, study, record.hospital),
    )


def _record_now(
    ledger: Ledger, study: StudyId, patient: Address
) -> tuple[ConsentRecord, bool, int | None]:
    """The patient's record, whether they consent now, and the batch that granted the consent
    while its record is not written yet (`chain.consent_batches.BatchConsent.as_record`: the
    record the batch's logs describe). Raises `PatientNotEnrolledError` if neither exists."""
    record = ledger.consents.record(study, patient)
    if record.exists:
        return record, ledger.consents.is_consented(study, patient), None
    found = ledger.consents.batch_consent(study, patient)
    if found is None:
        raise PatientNotEnrolledError(study, patient)
    return found.as_record(), found.consented, found.batch_id
