"""A patient's relayed cancellation of their consent signatures not yet submitted."""

from __future__ import annotations

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field

from api.deps import PatientParam, ServicesDep, StudyParam
from api.problems import problem_responses
from api.schemas import Uint64, Uint256, hex32

__all__ = ["CancellationOut", "CancellationRequest", "router"]

router = APIRouter(prefix="/v1/studies/{study}/patients/{patient}", tags=["consent"])


class CancellationRequest(BaseModel):
    """A patient's EIP-712 `Cancellation(study, patient, nonce, deadline)` signature; `nonce`
    is the patient's revocation nonce (`GET .../consent`: `nonces.Cancellation`)."""

    model_config = ConfigDict(extra="forbid")

    signature: str = Field(
        pattern=r"^0x[0-9a-fA-F]{130}$", description="65-byte signature, 0x-prefixed hex"
    )
    deadline: Uint64 = Field(description="unix seconds the signature expires (uint64)")
    nonce: Uint256 | None = Field(
        None, description="the nonce signed (uint256); checked against the chain"
    )


class CancellationOut(BaseModel):
    """The cancellation on chain: consent signatures with a grant nonce below
    `next_grant_nonce` can no longer be submitted."""

    study: str
    patient: str
    next_grant_nonce: int
    tx_hash: str
    block_number: int
    log_index: int


@router.post(
    "/cancellation",
    response_model=CancellationOut,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(400, 401, 404, 409, 413, 422, 502, 503),
    summary="Cancel pending consent signatures with the patient's EIP-712 signature",
)
def cancel_pending(
    study: StudyParam, patient: PatientParam, body: CancellationRequest, services: ServicesDep
) -> CancellationOut:
    """Checks the signature, relays `cancelPendingConsentsWithSig`, waits for the receipt: every
    consent signature of the patient for the study that no hospital has submitted yet becomes
    unusable (a consent already granted stays; revoke it with `.../revocation`). The patient need
    not have consented before. 201 with the tx hash and block; 401 when the signature is not the
    patient's `Cancellation` over the current revocation nonce, 409 for a signature or nonce
    already used, 404 for an unknown study, 422 for a passed deadline, 503 when the chain is down
    (nothing was cancelled: retry the same request). Nothing is sent when a check fails."""
    event = services.require_relay().cancel_pending(
        study,
        patient,
        deadline=body.deadline,
        signature=bytes.fromhex(body.signature[2:]),
        nonce=body.nonce,
    )
    return CancellationOut(
        study=hex32(study),
        patient=event.patient,
        next_grant_nonce=event.next_grant_nonce,
        tx_hash=event.tx_hash,
        block_number=event.position.block_number,
        log_index=event.position.log_index,
    )
