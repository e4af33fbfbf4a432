"""What the patient page reads: the revocation to sign, the rounds a consent was used in, and the
consent record as FHIR. (Status and history come from `routers.consent`.)"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.deps import PatientParam, ServicesDep, StudyParam
from api.problems import problem_responses
from api.schemas import hex32
from api.services import Services
from chain.deploy import Ledger
from chain.errors import UnknownStudyError
from chain.relay import PatientNotEnrolledError
from consent.eip712 import PURPOSE_REVOCATION_TYPE, REVOCATION_TYPE
from consent.events import ConsentEvent, ConsentGranted, ConsentRevoked, PurposesRevoked
from consent.fhir import record_from_history, record_to_fhir
from consent.ids import Address, StudyId
from consent.purposes import ConsentScope, StudyPurpose
from consent.rounds import UpdateRecord

__all__ = ["router"]

router = APIRouter(prefix="/v1/studies/{study}/patients/{patient}", tags=["patient page"])

SIGNATURE_VALIDITY_S: Final = 600
"""How long a revocation signature prepared for the page stays valid (chain time)."""


class RevocationTypedDataOut(BaseModel):
    """The EIP-712 `Revocation` the patient signs (`eth_signTypedData_v4` / ethers'
    `signTypedData(domain, types, message)`), then POSTs with its deadline to `.../revocation`."""

    domain: dict[str, Any]
    types: dict[str, list[dict[str, str]]] = Field(description="without EIP712Domain")
    primaryType: Literal["Revocation"]  # noqa: N815 - the EIP-712 JSON key
    message: dict[str, Any] = Field(description="study, patient, nonce (current), deadline")


class PurposeRevocationTypedDataOut(BaseModel):
    """The EIP-712 `PurposeRevocation` the patient signs to withdraw some purposes, then POSTs
    with its purposes and deadline to `.../purpose-revocation`."""

    domain: dict[str, Any]
    types: dict[str, list[dict[str, str]]] = Field(description="without EIP712Domain")
    primaryType: Literal["PurposeRevocation"]  # noqa: N815 - the EIP-712 JSON key
    message: dict[str, Any] = Field(
        description="study, patient, purposes (the DUO mask), nonce (current), deadline"
    )


class PatientRoundOut(BaseModel):
    """A round in which the patient's hospital submitted an update computed while the patient
    consented (the update's consent block falls inside one of the patient's consent periods)."""

    round: int
    state: Literal["open", "finalized"]
    hospital: str
    consent_block: int
    submitted_block: int
    data_root: str = Field(description="the committed root over the patients the update used")
    num_samples: int


class PatientRoundsOut(BaseModel):
    """The rounds a patient's consent made their data eligible for."""

    study: str
    patient: str
    rounds: list[PatientRoundOut]


def _checked_history(
    ledger: Ledger, services: Services, study: StudyId, patient: Address
) -> list[ConsentEvent]:
    if not ledger.studies.study_exists(study):
        raise UnknownStudyError({"study_id": bytes(study)})
    if not ledger.consents.record(study, patient).exists and (
        ledger.consents.membership(study, patient) is None  # a batch consent, not yet written
    ):
        raise PatientNotEnrolledError(study, patient)
    return services.history.history(study, patient)


@router.get(
    "/revocation/typed-data",
    response_model=RevocationTypedDataOut,
    responses=problem_responses(400, 404, 422, 502, 503),
    summary="The EIP-712 revocation for the patient to sign",
)
def revocation_typed_data(
    study: StudyParam, patient: PatientParam, services: ServicesDep
) -> RevocationTypedDataOut:
    """Domain, types and message (with the current nonce and a deadline 10 minutes after the
    chain's time) of `Revocation(study, patient, nonce, deadline)`, built from
    `consent.eip712`, so a browser or wallet signs exactly what the contract checks."""
    ledger = services.ledger
    _checked_history(ledger, services, study, patient)
    nonce = ledger.consents.revocation_nonce(study, patient)
    deadline = ledger.chain.block_timestamp() + SIGNATURE_VALIDITY_S
    domain = ledger.consents.domain.as_dict()
    return RevocationTypedDataOut(
        domain=domain,
        types={"Revocation": [{"name": n, "type": t} for n, t in REVOCATION_TYPE]},
        primaryType="Revocation",
        message={"study": hex32(study), "patient": patient, "nonce": nonce, "deadline": deadline},
    )


@router.get(
    "/purpose-revocation/typed-data",
    response_model=PurposeRevocationTypedDataOut,
    responses=problem_responses(400, 404, 422, 502, 503),
    summary="The EIP-712 withdrawal of some purposes for the patient to sign",
)
def purpose_revocation_typed_data(
    study: StudyParam,
    patient: PatientParam,
    services: ServicesDep,
    purposes: Annotated[list[str], Query(min_length=1, max_length=16)],
) -> PurposeRevocationTypedDataOut:
    """Domain, types and message of `PurposeRevocation(study, patient, purposes, nonce,
    deadline)` for the DUO codes in `purposes` (their mask), with the current revocation nonce
    and a deadline 10 minutes after the chain's time."""
    scope = ConsentScope.parse(purposes)
    ledger = services.ledger
    _checked_history(ledger, services, study, patient)
    nonce = ledger.consents.revocation_nonce(study, patient)
    deadline = ledger.chain.block_timestamp() + SIGNATURE_VALIDITY_S
    return PurposeRevocationTypedDataOut(
        domain=ledger.consents.domain.as_dict(),
        types={"PurposeRevocation": [{"name": n, "type": t} for n, t in PURPOSE_REVOCATION_TYPE]},
        primaryType="PurposeRevocation",
        message={"study": hex32(study), "patient": patient, "purposes": scope.mask,
                 "nonce": nonce, "deadline": deadline},
    )  # fmt: skip


def _periods(
    history: list[ConsentEvent], purpose: StudyPurpose | None
) -> list[tuple[ConsentGranted, int | None]]:
    """(grant, block of the revocation, or of the withdrawal of purposes, that ended it or None),
    oldest first; grants that do not cover the study's `purpose` open no period."""
    periods: list[tuple[ConsentGranted, int | None]] = []
    for event in history:
        open_ = bool(periods) and periods[-1][1] is None
        if isinstance(event, ConsentGranted):
            if open_:
                periods[-1] = (periods[-1][0], event.position.block_number)
            if purpose is None or purpose.covers_mask(event.purposes):
                periods.append((event, None))
        elif open_ and (
            isinstance(event, ConsentRevoked)
            or (
                isinstance(event, PurposesRevoked)
                and purpose is not None
                and not purpose.covers_mask(event.remaining)
            )
        ):
            periods[-1] = (periods[-1][0], event.position.block_number)
    return periods


def _covered(
    ledger: Ledger, periods: list[tuple[ConsentGranted, int | None]], update: UpdateRecord
) -> bool:
    for grant, revoked in periods:
        block = update.consent_block
        if update.hospital != grant.hospital or block < grant.position.block_number:
            continue
        if revoked is not None and block >= revoked:
            continue
        if grant.expires_at and ledger.chain.block_timestamp(block) >= grant.expires_at:
            continue
        return True
    return False


@router.get(
    "/rounds",
    response_model=PatientRoundsOut,
    responses=problem_responses(400, 404, 422, 502, 503),
    summary="The rounds a patient's consent covered",
)
def patient_rounds(
    study: StudyParam, patient: PatientParam, services: ServicesDep
) -> PatientRoundsOut:
    """Every round in which the patient's hospital submitted an update whose consent block falls
    in a period the patient consented (granted at or before it, not revoked at or before it, not
    expired). Those are the updates the patient's data was eligible for; the update's data root
    commits to exactly which patients it used."""
    ledger = services.ledger
    history = _checked_history(ledger, services, study, patient)
    periods = _periods(history, ledger.studies.study_purpose(study))
    rounds: list[PatientRoundOut] = []
    for number in range(ledger.rounds.round_count(study)):
        record = ledger.rounds.get_round(study, number)
        for update in ledger.rounds.get_updates(study, number):
            if _covered(ledger, periods, update):
                rounds.append(
                    PatientRoundOut(
                        round=number,
                        state="finalized" if record.finalized_block else "open",
                        hospital=update.hospital,
                        consent_block=update.consent_block,
                        submitted_block=update.submitted_block,
                        data_root=hex32(update.data_root),
                        num_samples=update.num_samples,
                    )
                )
    return PatientRoundsOut(study=hex32(study), patient=patient, rounds=rounds)


@router.get(
    "/consent/fhir",
    responses=problem_responses(400, 404, 422, 502, 503),
    summary="The patient's consent record as a FHIR R4 Consent resource",
)
def consent_fhir(study: StudyParam, patient: PatientParam, services: ServicesDep) -> dict[str, Any]:
    """The latest consent (grant, and its revocation if any) as FHIR R4 `Consent` JSON
    (`consent.fhir`), its status as of the chain's latest block."""
    ledger = services.ledger
    history = _checked_history(ledger, services, study, patient)
    domain = ledger.consents.domain
    record = record_from_history(
        history, chain_id=domain.chain_id, registry=domain.verifying_contract
    )
    if record is None:  # the registry has a record, so the history has its grant
        raise PatientNotEnrolledError(study, patient)
    now = ledger.chain.block_timestamp()
    return record_to_fhir(record, now=now)
