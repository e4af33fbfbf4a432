"""Patient enrolment: a key per patient, the patient's EIP-712 consent signature, the hospital's
batched grant, and the hospital's training data re-keyed by patient address.

In a real hospital each patient signs on their own device; here (demo, tests, the `patients
enroll` command on dev chains) the hospital generates the keys and signs on the patients' behalf,
then hands the keys over. The contract checks every signature either way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from chain.consent_registry import ConsentRegistry, SignedConsent
from consent.eip712 import sign_consent, sign_revocation
from consent.events import ConsentGranted, ConsentRevoked
from consent.ids import Address, StudyId
from consent.keys import PatientKey, generate
from consent.purposes import GENERAL_RESEARCH, ConsentScope
from fl.data import HospitalDataset, RecordDataset, attach_patients

__all__ = [
    "GRANTS_PER_CALL",
    "Enrolment",
    "enroll_records",
    "grant_consents",
    "revoke_as_patient",
]

logger = logging.getLogger(__name__)

GRANTS_PER_CALL: Final = 200
"""Grants per `grant_batch` call: 200 x ~90k gas stays well inside a 30M block."""


@dataclass(frozen=True, eq=False, slots=True)
class Enrolment:
    """The outcome of enrolling one hospital's records: one patient per record."""

    keys: dict[str, PatientKey]
    """record_id -> the patient's key (the hospital's private mapping, never published)."""
    dataset: HospitalDataset
    granted: tuple[ConsentGranted, ...]


def grant_consents(
    consents: ConsentRegistry,
    study: StudyId,
    record_ids: Sequence[str],
    *,
    expires_at: int = 0,
    deadline: int | None = None,
    keys: dict[str, PatientKey] | None = None,
    progress: Callable[[int], None] | None = None,
    scope: ConsentScope = GENERAL_RESEARCH,
    batched_first: bool = False,
) -> tuple[dict[str, PatientKey], tuple[ConsentGranted, ...]]:
    """Give each record a patient key (generated unless `keys` maps it), sign each patient's
    consent (for the DUO purposes of `scope`) to the sending hospital, and grant them in
    batches. `progress(n)` after each batch. With `batched_first`, first consents (nonce 0) go
    through `grant_first_batch` (one Merkle root per batch, ~14k gas each instead of ~85k; the
    per-patient record is written when it is first needed, e.g. by `revoke_as_patient`).
    The signatures carry `deadline` (default: one day after the chain's latest block)."""
    if consents.sender is None:
        raise ValueError("the consent registry facade needs the hospital as sender")
    hospital = consents.sender.address
    given = keys or {}
    patient_keys = {r: given.get(r) or generate() for r in record_ids}
    domain = consents.domain
    if deadline is None:
        deadline = consents.chain.block_timestamp() + 86_400
    known = {k.address for k in given.values()}
    signed: list[SignedConsent] = []
    first: list[SignedConsent] = []
    for key in patient_keys.values():
        nonce = consents.grant_nonce(study, key.address) if key.address in known else 0
        signature = sign_consent(
            key.private_key, domain, study, key.address, hospital, expires_at, nonce, deadline,
            scope=scope,
        )  # fmt: skip
        consent = SignedConsent(key.address, expires_at, signature, deadline, scope)
        (first if batched_first and nonce == 0 else signed).append(consent)
    granted: list[ConsentGranted] = []
    for batch in consents.grant_first_batch(study, first) if first else ():
        granted.extend(batch.granted)
        if progress is not None:
            progress(len(batch.granted))
    for start in range(0, len(signed), GRANTS_PER_CALL):
        chunk: Sequence[SignedConsent] = signed[start : start + GRANTS_PER_CALL]
        granted.extend(consents.grant_batch(study, chunk))
        if progress is not None:
            progress(len(chunk))
    logger.info("enrolled %d patients", len(granted))
    return patient_keys, tuple(granted)


def enroll_records(
    consents: ConsentRegistry,
    study: StudyId,
    records: RecordDataset,
    *,
    expires_at: int = 0,
    keys: dict[str, PatientKey] | None = None,
    progress: Callable[[int], None] | None = None,
    batched_first: bool = False,
) -> Enrolment:
    """`grant_consents` for every record, and the records re-keyed by their patients."""
    patient_keys, granted = grant_consents(
        consents,
        study,
        records.record_ids,
        expires_at=expires_at,
        keys=keys,
        progress=progress,
        batched_first=batched_first,
    )
    dataset = attach_patients(records, {r: k.address for r, k in patient_keys.items()})
    return Enrolment(patient_keys, dataset, granted)


def revoke_as_patient(
    relayer: ConsentRegistry, study: StudyId, patient: PatientKey, *, deadline: int
) -> ConsentRevoked:
    """The patient signs a revocation; `relayer`'s sender submits it (and pays the gas).

    A consent recorded in a batch of first consents has no per-patient record yet: the relayer
    first materialises it from its batch proof (`ConsentRegistry.materialize`)."""
    address: Address = patient.address
    if not relayer.record(study, address).exists:
        member = relayer.membership(study, address)
        if member is not None:
            relayer.materialize(study, address, member)
    nonce = relayer.revocation_nonce(study, address)
    signature = sign_revocation(
        patient.private_key, relayer.domain, study, address, nonce, deadline
    )
    return relayer.revoke_with_sig(study, address, deadline, signature)
