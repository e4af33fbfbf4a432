"""Handing patients their keys: one standard Ethereum V3 keystore per patient (eth-account's
`Account.encrypt`, scrypt) under the patient's own password, plus their grant receipt.

The hospital's bulk keyring (`consent.keys.save_keyring`) is for the hospital; what leaves the
hospital is this: a file MetaMask, geth, ethers and the patient page all open.
"""

from __future__ import annotations

import csv
import os
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from api.defaults import HANDOVER_SCRYPT_N
from api.receipts import write_record
from consent.ids import Address
from consent.keys import PatientKey, load_keyring, save_keystore

__all__ = [
    "HANDOVER_SCRYPT_N",
    "Handover",
    "find_patient_key",
    "generate_password",
    "write_handover",
]

_PASSWORD_BYTES: Final = 12


def generate_password() -> str:
    """A fresh one-time password for a handed-over keystore (96 bits, URL-safe text)."""
    return secrets.token_urlsafe(_PASSWORD_BYTES)


def find_patient_key(keyring: Path, password: str, patient: Address) -> PatientKey:
    """The key of `patient` in a hospital keyring; `LookupError` if it holds no such key."""
    for key in load_keyring(keyring, password):
        if key.address.lower() == patient.lower():
            return key
    raise LookupError(f"the keyring {keyring} holds no key of {patient}")


@dataclass(frozen=True, slots=True)
class Handover:
    """What `write_handover` wrote."""

    directory: Path
    keystores: int
    passwords: Path


def _write_passwords(path: Path, rows: list[tuple[str, str, str]]) -> None:
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="") as handle:  # mkstemp creates the file 0600
            writer = csv.writer(handle)
            writer.writerow(["record_id", "patient", "keystore", "password"])
            writer.writerows((r, a, f"{a}.keystore.json", p) for r, a, p in rows)
        os.replace(tmp_name, path)
    finally:
        Path(tmp_name).unlink(missing_ok=True)


def write_handover(
    directory: Path,
    keys: Mapping[str, PatientKey],
    receipts: Mapping[Address, dict[str, Any]],
    *,
    scrypt_n: int = HANDOVER_SCRYPT_N,
) -> Handover:
    """For each record's patient: `<address>.keystore.json` (V3, scrypt `scrypt_n`) under a fresh
    password and `<address>.receipt.json` (their grant receipt, if given); the passwords go to
    `passwords.csv`, for the hospital to print or send apart from the files. All mode 0600."""
    directory.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[str, str, str]] = []
    for record_id, key in keys.items():
        password = generate_password()
        save_keystore(
            key, directory / f"{key.address}.keystore.json", password, iterations=scrypt_n
        )
        receipt = receipts.get(key.address)
        if receipt is not None:
            write_record(directory / f"{key.address}.receipt.json", receipt)
        rows.append((record_id, key.address, password))
    passwords = directory / "passwords.csv"
    _write_passwords(passwords, rows)
    return Handover(directory, len(rows), passwords)
