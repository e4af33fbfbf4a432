"""`consentfl consent ...`: grant, revoke and check a patient's consent."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from api.commands._chain_common import (
    DeploymentOption,
    JsonOption,
    RpcOption,
    StudyOption,
    cli_errors,
    emit,
    fail,
    load_key,
    parse_study,
)
from api.commands.records import fhir_app, verify_receipt_command

if TYPE_CHECKING:
    from chain.consent_batches import BatchConsent
    from chain.consent_registry import ConsentRecord
    from chain.deploy import Ledger
    from consent.ids import Address, StudyId
    from consent.purposes import ConsentScope

__all__ = ["consent_app"]

consent_app = typer.Typer(
    name="consent", help="Grant, revoke and check patient consent.", no_args_is_help=True
)
consent_app.command("verify-receipt")(verify_receipt_command)
consent_app.add_typer(fhir_app)

ReceiptOption = Annotated[
    Path | None,
    typer.Option(help="Write the signed consent receipt (JSON) here, for the patient to keep."),
]
PatientKeyOption = Annotated[
    Path, typer.Option("--patient-key", help="The patient's hex private key file.")
]
PurposesOption = Annotated[
    str,
    typer.Option(
        help="DUO codes the consent covers, comma-separated: GRU, HMB, DS-DISEASE (e.g. "
        "DS-CANCER), and the NMDS modifier (GRU alone is general research use)."
    ),
]


HospitalKeyOption = Annotated[
    Path, typer.Option("--key", help="The hospital's hex key file (sender).")
]
SigningPatientKeyOption = Annotated[
    Path | None, typer.Option("--patient-key", help="Patient's key file: sign here.")
]
PatientOption = Annotated[
    str | None, typer.Option(help="Patient address (with --signature, signed elsewhere).")
]
SignatureOption = Annotated[
    str | None, typer.Option(help="The patient's EIP-712 consent signature (0x hex).")
]
ExpiresAtOption = Annotated[
    int, typer.Option(min=0, help="Unix time the consent expires; 0 = never.")
]
ValidFromOption = Annotated[
    int, typer.Option(min=0, help="Unix time the consent starts to count; 0 = at once.")
]
DeadlineOption = Annotated[
    int | None,
    typer.Option(
        min=1,
        help="Unix time after which the signature cannot be submitted "
        "(default: one day from now; with --signature, the deadline that was signed).",
    ),
]


@consent_app.command("grant")
def grant(
    deployment: DeploymentOption,
    study: StudyOption,
    key: HospitalKeyOption,
    patient_key: SigningPatientKeyOption = None,
    patient: PatientOption = None,
    signature: SignatureOption = None,
    expires_at: ExpiresAtOption = 0,
    purposes: PurposesOption = "GRU",
    valid_from: ValidFromOption = 0,
    receipt: ReceiptOption = None,
    deadline: DeadlineOption = None,
    rpc: RpcOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record a patient's signed consent for the sending hospital (receipt signed by it)."""
    from api.receipts import issue_receipt, write_record
    from api.wiring import open_ledger
    from consent.purposes import ConsentScope

    with cli_errors():
        scope = ConsentScope.parse(purposes.split(","))
        ledger = open_ledger(rpc, deployment, key)
        sid = parse_study(study)
        if deadline is None:
            if signature is not None:
                fail("--signature needs the --deadline it was signed with")
            deadline = int(time.time()) + 86_400
        signed = _ConsentTerms(sid, expires_at, deadline, scope, valid_from)
        address, raw_signature = _signed_consent(ledger, signed, patient_key, patient, signature)
        event = ledger.consents.grant(
            sid, address, expires_at, deadline, raw_signature, scope=scope, valid_from=valid_from
        )
        if receipt is not None:
            write_record(receipt, issue_receipt(ledger.consents, event))
    emit(
        as_json,
        {"patient": event.patient, "block": event.position.block_number, "tx": event.tx_hash},
        f"consent of {event.patient} recorded in block {event.position.block_number}",
    )


@dataclass(frozen=True, slots=True)
class _ConsentTerms:
    """What the patient signs besides who they are and which hospital records it."""

    study: StudyId
    expires_at: int
    deadline: int
    scope: ConsentScope
    valid_from: int


def _signed_consent(
    ledger: Ledger,
    terms: _ConsentTerms,
    patient_key: Path | None,
    patient: str | None,
    signature: str | None,
) -> tuple[Address, bytes]:
    """The patient's address and EIP-712 consent signature: signed here with `patient_key` (at
    the patient's next grant nonce), or given as `patient` with `signature` (signed elsewhere)."""
    from consent.eip712 import sign_consent
    from consent.ids import parse_address

    sender = ledger.consents.sender
    assert sender is not None
    if patient_key is not None:
        account = load_key(patient_key)
        address = account.address
        return address, sign_consent(
            account.private_key,
            ledger.consents.domain,
            terms.study,
            address,
            sender.address,
            terms.expires_at,
            ledger.consents.grant_nonce(terms.study, address),
            terms.deadline,
            scope=terms.scope,
            valid_from=terms.valid_from,
        )
    if patient is not None and signature is not None:
        return parse_address(patient), bytes.fromhex(signature.removeprefix("0x"))
    fail("give --patient-key, or --patient with --signature")


@consent_app.command("revoke")
def revoke(
    deployment: DeploymentOption,
    study: StudyOption,
    patient_key: PatientKeyOption,
    relay_key: Annotated[
        Path | None,
        typer.Option(help="Relayer's key file: the patient signs, the relayer pays the gas."),
    ] = None,
    valid_for: Annotated[
        int, typer.Option(min=1, help="Seconds a relayed revocation signature stays valid.")
    ] = 3600,
    purpose: Annotated[
        list[str] | None,
        typer.Option(
            help="Withdraw only this DUO purpose (repeatable); the rest of the consent stays."
        ),
    ] = None,
    receipt: ReceiptOption = None,
    rpc: RpcOption = None,
    as_json: JsonOption = False,
) -> None:
    """Revoke a patient's consent, or with --purpose withdraw some of its purposes: sent by the
    patient, or signed and relayed (the receipt of a full revocation is signed by the sender)."""
    from api.receipts import issue_receipt, write_record
    from api.wiring import open_ledger
    from consent.eip712 import sign_revocation

    if purpose:
        _revoke_purposes(
            deployment, study, patient_key, relay_key, valid_for, purpose, rpc, as_json
        )
        return
    with cli_errors():
        patient = load_key(patient_key)
        sid = parse_study(study)
        if relay_key is None:
            ledger = open_ledger(rpc, deployment, patient_key)
            event = ledger.consents.revoke(sid)
        else:
            ledger = open_ledger(rpc, deployment, relay_key)
            deadline = int(time.time()) + valid_for
            nonce = ledger.consents.revocation_nonce(sid, patient.address)
            domain = ledger.consents.domain
            sig = sign_revocation(
                patient.private_key, domain, sid, patient.address, nonce, deadline
            )
            event = ledger.consents.revoke_with_sig(sid, patient.address, deadline, sig)
        if receipt is not None:
            write_record(receipt, issue_receipt(ledger.consents, event))
    emit(
        as_json,
        {"patient": event.patient, "block": event.position.block_number, "tx": event.tx_hash},
        f"consent of {event.patient} revoked in block {event.position.block_number}",
    )


def _revoke_purposes(
    deployment: Path,
    study: str,
    patient_key: Path,
    relay_key: Path | None,
    valid_for: int,
    codes: list[str],
    rpc: str | None,
    as_json: bool,
) -> None:
    from api.wiring import open_ledger
    from consent.eip712 import sign_purpose_revocation
    from consent.events import PurposesRevoked
    from consent.purposes import ConsentScope

    with cli_errors():
        withdrawn = ConsentScope.parse(codes)
        patient = load_key(patient_key)
        sid = parse_study(study)
        if relay_key is None:
            ledger = open_ledger(rpc, deployment, patient_key)
            event = ledger.consents.revoke_purposes(sid, withdrawn.mask)
        else:
            ledger = open_ledger(rpc, deployment, relay_key)
            deadline = int(time.time()) + valid_for
            nonce = ledger.consents.revocation_nonce(sid, patient.address)
            sig = sign_purpose_revocation(
                patient.private_key,
                ledger.consents.domain,
                sid,
                patient.address,
                withdrawn.mask,
                nonce,
                deadline,
            )
            event = ledger.consents.revoke_purposes_with_sig(
                sid, patient.address, withdrawn.mask, deadline, sig
            )
    left = ConsentScope.from_mask(event.remaining) if isinstance(event, PurposesRevoked) else None
    remaining = list(left.codes) if left is not None else []
    emit(
        as_json,
        {
            "patient": event.patient,
            "block": event.position.block_number,
            "tx": event.tx_hash,
            "revoked": list(withdrawn.codes),
            "remaining": remaining,
        },
        f"{', '.join(withdrawn.codes)} withdrawn from the consent of {event.patient} in block "
        f"{event.position.block_number}; remaining: {', '.join(remaining) or 'none (revoked)'}",
    )


@consent_app.command("status")
def status(
    deployment: DeploymentOption,
    study: StudyOption,
    patient: Annotated[str, typer.Option(help="The patient's address.")],
    rpc: RpcOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show whether a patient consents now, with the grant and revocation blocks."""
    from api.wiring import open_ledger
    from consent.ids import parse_address
    from consent.purposes import ConsentScope, StudyPurpose, covers

    with cli_errors():
        ledger = open_ledger(rpc, deployment, None)
        sid = parse_study(study)
        address = parse_address(patient)
        record = ledger.consents.record(sid, address)
        consented = ledger.consents.is_consented(sid, address)
        in_batch = None if record.exists else ledger.consents.batch_consent(sid, address)
        study_purpose: StudyPurpose | None = ledger.studies.study_purpose(sid)
    if in_batch is not None:  # granted in a batch of first consents, record not yet written
        record, consented = in_batch.as_record(), in_batch.consented
    scope = ConsentScope.from_mask(record.purposes) if record.purposes else None
    payload = {
        "patient": address,
        "consented": consented,
        "hospital": record.hospital if record.exists else None,
        "granted_block": record.granted_block,
        "revoked_block": record.revoked_block,
        "expires_at": record.expires_at,
        "valid_from": record.valid_from,
        "purposes": list(scope.codes) if scope is not None else [],
        "study_purpose": None if study_purpose is None else str(study_purpose),
        "covers_study": scope is not None and covers(scope, study_purpose),
        "batch": None if in_batch is None else in_batch.batch_id,
    }
    emit(as_json, payload, _status_text(address, record, consented, scope, in_batch))


def _status_text(
    address: str,
    record: ConsentRecord,
    consented: bool,
    scope: ConsentScope | None,
    in_batch: BatchConsent | None,
) -> str:
    """The one-line status of `consent status`."""
    if not record.exists:
        return f"{address}: no consent (never granted)"
    state = "consented" if consented else ("revoked" if record.revoked_block else "expired")
    if in_batch is not None:
        state += f" (batch {in_batch.batch_id}, not yet written on chain)"
    return (
        f"{address}: {state} (hospital {record.hospital}, granted in block "
        f"{record.granted_block}, revoked in block {record.revoked_block or '-'}, "
        f"expires {record.expires_at or 'never'}, purposes "
        f"{', '.join(scope.codes) if scope is not None else '-'})"
    )
