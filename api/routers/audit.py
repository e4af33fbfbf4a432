"""The auditor's verification report for a study."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import ServicesDep, StudyParam
from api.problems import StoreNotConfiguredError, problem_responses
from api.schemas import AuditReportOut
from chain.audit import AuditVerifier
from chain.exclusions import ExclusionProofs

__all__ = ["router"]

router = APIRouter(prefix="/v1/studies/{study}", tags=["audit"])


@router.get(
    "/audit",
    response_model=AuditReportOut,
    responses=problem_responses(400, 404, 422, 502, 503),
    summary="Verify every round of the study",
)
def audit(study: StudyParam, services: ServicesDep) -> AuditReportOut:
    """Walks every round: sequence, base models, artifact bytes against on-chain hashes and CIDs,
    membership and consent freshness of every update, and exclusion proofs for revoked patients
    (from the server's proofs directory). `passed` is false, and the failing checks name the
    round, hospital and check, when anything does not verify; 503 if the chain or the store is
    down."""
    if services.store is None:
        raise StoreNotConfiguredError("no artifact store is configured on this server")
    proofs = (
        ExclusionProofs.load(services.proofs)
        if services.proofs is not None and services.proofs.is_dir()
        else ExclusionProofs()
    )
    report = AuditVerifier(services.ledger, services.store, proofs).verify(study)
    return AuditReportOut.of(report)
