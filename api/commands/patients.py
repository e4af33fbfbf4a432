"""`consentfl patients enroll`: give every record of a split CSV a patient key, have each patient
sign their consent, grant them in batches from the hospital, and write the training CSV keyed by
patient address."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress

from api.commands._chain_common import (
    DeploymentOption,
    JsonOption,
    KeyOption,
    RpcOption,
    StudyOption,
    cli_errors,
    emit,
    parse_study,
)
from api.enrolment import enroll_records
from api.wiring import open_ledger
from consent.keys import save_keyring
from fl.data import load_record_csv, write_hospital_csv

__all__ = ["patients_app"]

patients_app = typer.Typer(
    name="patients", help="Enrol a hospital's patients in a study.", no_args_is_help=True
)


@patients_app.callback()
def _patients() -> None:
    """Enrol a hospital's patients in a study."""


def _write_mapping(path: Path, mapping: dict[str, str]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["record_id", "patient"])
        writer.writerows(mapping.items())


@patients_app.command("enroll")
def enroll(
    deployment: DeploymentOption,
    study: StudyOption,
    key: KeyOption,
    data: Annotated[Path, typer.Option(help="Split CSV: record_id, features, label.")],
    out: Annotated[Path, typer.Option(help="Training CSV to write: patient, features, label.")],
    keys_out: Annotated[
        Path, typer.Option(help="Encrypted keyring of the patients' keys (record order).")
    ],
    keyring_password: Annotated[
        str,
        typer.Option(
            envvar="CONSENTFL_KEYRING_PASSWORD",
            prompt=True,
            hide_input=True,
            help="Password of the keyring (env CONSENTFL_KEYRING_PASSWORD).",
        ),
    ],
    expires_at: Annotated[
        int, typer.Option(min=0, help="Unix time the consents expire; 0 = never.")
    ] = 0,
    rpc: RpcOption = None,
    as_json: JsonOption = False,
) -> None:
    """Enrol every record as a patient with their own key; the patients sign, the hospital (the
    --key account) submits the grants. Also writes OUT.patients.csv (record_id -> patient, the
    hospital's private mapping, mode 0600)."""
    with cli_errors():
        records = load_record_csv(data)
        ledger = open_ledger(rpc, deployment, key)
        with Progress(transient=True) as progress:
            task = progress.add_task("granting consents", total=len(records))
            enrolment = enroll_records(
                ledger.consents,
                parse_study(study),
                records,
                expires_at=expires_at,
                progress=lambda n: progress.advance(task, n),
            )
        save_keyring([enrolment.keys[r] for r in records.record_ids], keys_out, keyring_password)
        write_hospital_csv(enrolment.dataset, out)
        mapping_path = out.with_suffix(".patients.csv")
        _write_mapping(mapping_path, {r: k.address for r, k in enrolment.keys.items()})
    last = enrolment.granted[-1].position.block_number if enrolment.granted else None
    emit(
        as_json,
        {"patients": len(enrolment.granted), "data": str(out), "keyring": str(keys_out),
         "mapping": str(mapping_path), "last_block": last},
        f"enrolled {len(enrolment.granted)} patients (last grant in block {last}); "
        f"training data {out}, keys {keys_out}, mapping {mapping_path}",
    )  # fmt: skip
