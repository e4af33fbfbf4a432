"""The auditor's verification report for a study, served from the audit cache."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.responses import JSONResponse

from api.audit_cache import AuditCache, proofs_fingerprint
from api.deps import ServicesDep, StudyParam
from api.problems import StoreNotConfiguredError, problem_responses
from api.schemas import AuditPendingOut, AuditReportOut, hex32
from chain.errors import UnknownStudyError

__all__ = ["router"]

router = APIRouter(prefix="/v1/studies/{study}", tags=["audit"])


def _cache(request: Request) -> AuditCache:
    cache: AuditCache = request.app.state.audits
    return cache


@router.get(
    "/audit",
    response_model=AuditReportOut,
    responses={
        202: {
            "model": AuditPendingOut,
            "description": "No report yet: one is being computed (see Retry-After)",
            "headers": {"Retry-After": {"schema": {"type": "integer"}}},
        },
        **problem_responses(400, 404, 422, 502, 503),
    },
    summary="Verify every round of the study (cached per block, computed in the background)",
)
def audit(
    study: StudyParam,
    services: ServicesDep,
    cache: Annotated[AuditCache, Depends(_cache)],
    request: Request,
    response: Response,
) -> AuditReportOut | JSONResponse:
    """Walks every round: sequence, base models, artifact bytes against on-chain hashes and CIDs,
    membership and consent freshness of every update, and exclusion proofs for revoked patients
    (from the server's proofs directory). `passed` is false, and the failing checks name the
    round, hospital and check, when anything does not verify.

    Reports are computed by a background worker and cached per (study, block, published
    proofs); a request never runs the audit. 200 with the report for the chain's current block
    (`up_to_date` true), or, while a newer one is computed, the newest report there is
    (`up_to_date` false, with Retry-After); 202 with Retry-After when the study has no report
    yet. 404 for an unknown study, 503 if the chain or the store is down."""
    if services.store is None:
        raise StoreNotConfiguredError("no artifact store is configured on this server")
    ledger = services.ledger
    # one RPC per cached GET (the head block): a study with a report exists, studies are never
    # deleted, and the `studyExists` call cost as much again (bench/bench_audit_cache.py profile)
    if not cache.has_report(study) and not ledger.studies.study_exists(study):
        raise UnknownStudyError({"study_id": bytes(study)})
    head = ledger.chain.block_number()
    cached, current = cache.lookup(study, head, proofs_fingerprint(services.proofs))
    retry_after = int(request.app.state.retry_after)
    if cached is None:
        pending = AuditPendingOut(
            status="computing", study=hex32(study), head_block=head, retry_after=retry_after
        )
        return JSONResponse(
            pending.model_dump(),
            status_code=status.HTTP_202_ACCEPTED,
            headers={"Retry-After": str(retry_after)},
        )
    if not current:
        response.headers["Retry-After"] = str(retry_after)
    return AuditReportOut.of(
        cached.report, head_block=head, up_to_date=current, computed_at=cached.computed_at
    )
