"""`consentfl patients enroll`: give every record of a split CSV a patient key, have each patient
sign their consent, grant them in batches from the hospital, and write the training CSV keyed by
patient address."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from api.commands._chain_common import (
    DeploymentOption,
    JsonOption,
    KeyOption,
    RpcOption,
    StudyOption,
    cli_errors,
    emit,
    fail,
    parse_study,
)
from api.commands._schema_common import SchemaFileOption, read_schema_file
from api.defaults import HANDOVER_SCRYPT_N

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from consent.keys import PatientKey
    from fl.data import RecordDataset

__all__ = ["patients_app"]

# the hospital's keyring password: prompted (hidden) unless the environment holds it
KeyringPasswordOption = Annotated[
    str,
    typer.Option(
        envvar="CONSENTFL_KEYRING_PASSWORD",
        prompt=True,
        hide_input=True,
        help="Password of the keyring (env CONSENTFL_KEYRING_PASSWORD).",
    ),
]

patients_app = typer.Typer(
    name="patients", help="Enrol a hospital's patients in a study.", no_args_is_help=True
)


@patients_app.callback()
def _patients() -> None:
    """Enrol a hospital's patients in a study."""


def _write_mapping(path: Path, mapping: dict[str, str]) -> None:
    """The record-id map never leaves the hospital: 0600 via temp file + rename, always."""
    from consent.private_file import write_private_file

    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(["record_id", "patient"])
    writer.writerows(mapping.items())
    write_private_file(path, text.getvalue().encode())


def _write_patient_rows(source: Path, out: Path, keys: Mapping[str, PatientKey]) -> None:
    """`source`'s rows, unchanged, with the `record_id` column replaced by the patient address."""
    with source.open(newline="", encoding="utf-8-sig") as handle:
        rows = [[c.strip() for c in row] for row in csv.reader(handle) if any(row)]
    at = rows[0].index("record_id")
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([*rows[0][:at], "patient", *rows[0][at + 1 :]])
        for row in rows[1:]:
            writer.writerow([*row[:at], keys[row[at]].address, *row[at + 1 :]])


EnrolDataOption = Annotated[Path, typer.Option(help="Split CSV: record_id, features, label.")]
EnrolOutOption = Annotated[
    Path, typer.Option(help="Training CSV to write: patient, features, label.")
]
KeysOutOption = Annotated[
    Path, typer.Option(help="Encrypted keyring of the patients' keys (record order).")
]
ExpiresAtOption = Annotated[
    int, typer.Option(min=0, help="Unix time the consents expire; 0 = never.")
]
PurposesOption = Annotated[
    str,
    typer.Option(
        help="DUO codes the patients consented to, comma-separated (GRU, HMB, "
        "DS-DISEASE (e.g. DS-CANCER), NMDS); GRU alone is general research use."
    ),
]
HandoverOption = Annotated[
    Path | None,
    typer.Option(
        help="Also write each patient's key as a V3 keystore under a fresh password, their "
        "grant receipt, and passwords.csv into this directory (see `export-key`).",
    ),
]
HandoverScryptOption = Annotated[
    int, typer.Option(min=2, help="scrypt cost n of the handed-over keystores.")
]


@patients_app.command("enroll")
def enroll(
    deployment: DeploymentOption,
    study: StudyOption,
    key: KeyOption,
    data: EnrolDataOption,
    out: EnrolOutOption,
    keys_out: KeysOutOption,
    keyring_password: KeyringPasswordOption,
    expires_at: ExpiresAtOption = 0,
    purposes: PurposesOption = "GRU",
    handover: HandoverOption = None,
    handover_scrypt_n: HandoverScryptOption = HANDOVER_SCRYPT_N,
    rpc: RpcOption = None,
    as_json: JsonOption = False,
    schema: SchemaFileOption = None,
) -> None:
    """Enrol every record as a patient with their own key; the patients sign, the hospital (the
    --key account) submits the grants. Also writes OUT.patients.csv (record_id -> patient, the
    hospital's private mapping, mode 0600). With --schema the file is checked against the study
    schema first (nothing is enrolled if it does not match) and its cells are kept as they are."""
    from rich.progress import Progress

    from api.enrolment import grant_consents
    from api.handover import write_handover
    from api.receipts import issue_receipt
    from api.wiring import open_ledger
    from consent.keys import save_keyring
    from consent.purposes import ConsentScope

    with cli_errors():
        # the whole file is validated before any key is generated or any transaction sent
        scope = ConsentScope.parse(purposes.split(","))
        record_ids, records = _read_records(data, schema)
        ledger = open_ledger(rpc, deployment, key)
        with Progress(transient=True) as progress:
            task = progress.add_task("granting consents", total=len(record_ids))
            keys, granted = grant_consents(
                ledger.consents,
                parse_study(study),
                record_ids,
                expires_at=expires_at,
                progress=lambda n: progress.advance(task, n),
                scope=scope,
            )
        save_keyring([keys[r] for r in record_ids], keys_out, keyring_password)
        mapping_path = _write_training_rows(data, out, records, keys)
        if handover is not None:
            receipts = {e.patient: issue_receipt(ledger.consents, e) for e in granted}
            write_handover(handover, keys, receipts, scrypt_n=handover_scrypt_n)
    last = granted[-1].position.block_number if granted else None
    emit(
        as_json,
        {"patients": len(granted), "data": str(out), "keyring": str(keys_out),
         "mapping": str(mapping_path), "last_block": last,
         "handover": None if handover is None else str(handover)},
        f"enrolled {len(granted)} patients (last grant in block {last}); "
        f"training data {out}, keys {keys_out}, mapping {mapping_path}",
    )  # fmt: skip


def _read_records(data: Path, schema: Path | None) -> tuple[Sequence[str], RecordDataset | None]:
    """The record ids of `data`, checked against `schema` when given (then the cells are kept
    as they are and no record table is built), else read as a split CSV."""
    from fl.data import load_record_csv
    from fl.schema import read_table

    if schema is not None:
        return read_table(data, read_schema_file(schema), id_column="record_id").ids, None
    records = load_record_csv(data)
    return records.record_ids, records


def _write_training_rows(
    data: Path, out: Path, records: RecordDataset | None, keys: Mapping[str, PatientKey]
) -> Path:
    """Write the training CSV `out` (each record's patient address in place of its id) and the
    hospital's private record -> patient mapping beside it; the mapping's path."""
    from fl.data import attach_patients, write_hospital_csv

    if records is None:
        _write_patient_rows(data, out, keys)
    else:
        write_hospital_csv(attach_patients(records, {r: k.address for r, k in keys.items()}), out)
    mapping_path = out.with_suffix(".patients.csv")
    _write_mapping(mapping_path, {r: k.address for r, k in keys.items()})
    return mapping_path


@patients_app.command("export-key")
def export_key(
    keyring: Annotated[Path, typer.Option(help="The hospital's keyring from `enroll`.")],
    patient: Annotated[str, typer.Option(help="The patient's address.")],
    out: Annotated[Path, typer.Option(help="Keystore file to write (V3 JSON, mode 0600).")],
    keyring_password: KeyringPasswordOption,
    password: Annotated[
        str,
        typer.Option(
            envvar="CONSENTFL_PATIENT_PASSWORD",
            prompt="Patient's password",
            hide_input=True,
            confirmation_prompt=True,
            help="The patient's own password for the keystore (env CONSENTFL_PATIENT_PASSWORD).",
        ),
    ],
    scrypt_n: Annotated[
        int, typer.Option(min=2, help="scrypt cost n (eth-account's default 2^18).")
    ] = HANDOVER_SCRYPT_N,
    overwrite: Annotated[bool, typer.Option(help="Replace OUT if it exists.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Write one patient's key from the hospital keyring as a standard Ethereum V3 keystore
    (scrypt) under the patient's own password: the file any wallet and the patient page open."""
    from api.handover import find_patient_key
    from consent.ids import parse_address
    from consent.keys import save_keystore

    with cli_errors():
        if len(password) < 8:
            fail("the patient's password needs at least 8 characters")
        address = parse_address(patient)
        try:
            key = find_patient_key(keyring, keyring_password, address)
        except LookupError as exc:
            fail(str(exc))
        save_keystore(key, out, password, iterations=scrypt_n, overwrite=overwrite)
    emit(
        as_json,
        {"patient": key.address, "keystore": str(out)},
        f"wrote the key of {key.address} to {out} (V3 keystore, scrypt n={scrypt_n})",
    )
