"""`consentfl consent verify-receipt` and `consentfl consent fhir export|import`: the records a
patient keeps, checked offline or against the chain."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from api.commands._chain_common import (
    DeploymentOption,
    JsonOption,
    RpcOption,
    StudyOption,
    cli_errors,
    emit,
    fail,
    parse_study,
)

__all__ = ["fhir_app", "verify_receipt_command"]

fhir_app = typer.Typer(
    name="fhir", help="A patient's consent record as a FHIR R4 Consent.", no_args_is_help=True
)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        fail(f"{path} is not JSON: {exc.msg} (line {exc.lineno})")


def verify_receipt_command(
    file: Annotated[Path, typer.Argument(help="The receipt JSON file.")],
    signer: Annotated[
        str | None, typer.Option(help="Fail unless the receipt is signed by this address.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Verify a consent receipt offline: its fields, and that its signature is its issuer's (the
    hospital or relayer). A changed field fails with `ReceiptTamperedError`."""
    from consent.receipts import ReceiptError, verify_receipt

    with cli_errors():
        receipt = _read_json(file)
        try:
            verified = verify_receipt(receipt, expected_signer=signer)
        except ReceiptError as exc:
            fail(f"{type(exc).__name__}: {exc}")
    emit(
        as_json,
        {"valid": True, "kind": verified.kind, "study": verified.study,
         "patient": verified.patient, "hospital": verified.hospital, "issuer": verified.issuer,
         "tx": verified.tx_hash, "block": verified.block_number},
        f"valid receipt: consent {verified.kind} of {verified.patient} in study {verified.study}, "
        f"block {verified.block_number}, tx {verified.tx_hash}, signed by {verified.issuer}",
    )  # fmt: skip


def _chain_record(rpc: str | None, deployment: Path, study: str, patient: str) -> tuple[Any, int]:
    from api.wiring import open_ledger
    from chain.consent_history import ConsentHistory
    from chain.manifest import load_manifest
    from consent.fhir import record_from_history
    from consent.ids import parse_address

    ledger = open_ledger(rpc, deployment, None)
    sid = parse_study(study)
    address = parse_address(patient)
    history = ConsentHistory(ledger.consents, load_manifest(deployment).deploy_block)
    try:
        events = history.history(sid, address)
    finally:
        history.close()
    domain = ledger.consents.domain
    record = record_from_history(
        events, chain_id=domain.chain_id, registry=domain.verifying_contract
    )
    if record is None:
        fail(f"patient {address} never consented in study {study}")
    return record, ledger.chain.block_timestamp()


@fhir_app.command("export")
def fhir_export(
    deployment: DeploymentOption,
    study: StudyOption,
    patient: Annotated[str, typer.Option(help="The patient's address.")],
    out: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
    rpc: RpcOption = None,
) -> None:
    """Export the patient's latest consent (and its revocation) from the chain as FHIR R4."""
    from api.receipts import write_record
    from consent.fhir import record_to_fhir

    with cli_errors():
        record, now = _chain_record(rpc, deployment, study, patient)
        resource = record_to_fhir(record, now=now)
        if out is None:
            typer.echo(json.dumps(resource, indent=2))
        else:
            write_record(out, resource)
            typer.echo(f"wrote the FHIR Consent of {record.patient} to {out}", err=True)


@fhir_app.command("import")
def fhir_import(
    file: Annotated[Path, typer.Argument(help="A FHIR R4 Consent JSON file.")],
    deployment: Annotated[
        Path | None,
        typer.Option(envvar="CONSENTFL_DEPLOYMENT", help="Check the record against this chain."),
    ] = None,
    rpc: RpcOption = None,
    as_json: JsonOption = False,
) -> None:
    """Read a FHIR Consent into a consent record; with --deployment, fail unless the chain holds
    the same record (the FHIR file is a copy; the chain is the source of truth)."""
    from consent.fhir import ConsentRecord, record_from_fhir

    with cli_errors():
        resource = _read_json(file)
        record: ConsentRecord = record_from_fhir(resource, now=int(time.time()))
        if deployment is not None:
            on_chain, _ = _chain_record(rpc, deployment, record.study, record.patient)
            if on_chain != record:
                fail(f"{file} does not match the chain's record of {record.patient}")
    payload = {
        "study": record.study, "patient": record.patient, "hospital": record.hospital,
        "granted_tx": record.granted_tx, "granted_block": record.granted_block,
        "expires_at": record.expires_at, "revoked_tx": record.revoked_tx,
        "revoked_block": record.revoked_block, "checked_on_chain": deployment is not None,
    }  # fmt: skip
    state = "revoked" if record.revoked_tx else "granted"
    emit(as_json, payload, f"consent of {record.patient} ({state}, block {record.granted_block})")
