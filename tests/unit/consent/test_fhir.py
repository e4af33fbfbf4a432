"""FHIR R4 Consent export and import of a patient's consent record."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from eth_account import Account

from consent.events import ConsentGranted, ConsentRevoked, EventPosition
from consent.fhir import (
    ConsentRecord,
    FhirConsentError,
    record_from_fhir,
    record_from_history,
    record_to_fhir,
)
from consent.ids import Address, StudyId

PATIENT = Address(Account.from_key(b"\x33" * 32).address)
HOSPITAL = Address(Account.from_key(b"\x44" * 32).address)
OTHER_HOSPITAL = Address(Account.from_key(b"\x45" * 32).address)
REGISTRY = Address("0x5FbDB2315678afecb367f032d93F642f64180aa3")
STUDY = StudyId(b"\x05" * 32)
NOW = 1_750_000_000


def _grant(block: int, hospital: Address = HOSPITAL, expires_at: int = 0) -> ConsentGranted:
    return ConsentGranted(
        STUDY, PATIENT, hospital, expires_at, 0, EventPosition(block, 0),
        "0x" + f"{block:064x}", 1_700_000_000 + block,
    )  # fmt: skip


def _revoke(block: int) -> ConsentRevoked:
    return ConsentRevoked(
        STUDY, PATIENT, HOSPITAL, EventPosition(block, 0), "0x" + f"{block:064x}",
        1_700_000_000 + block,
    )  # fmt: skip


def _record(*events: Any) -> ConsentRecord:
    record = record_from_history(events, chain_id=31337, registry=REGISTRY)
    assert record is not None
    return record


@pytest.mark.parametrize(
    ("events", "status"),
    [
        ((_grant(5),), "active"),
        ((_grant(5), _revoke(9)), "inactive"),
        ((_grant(5, expires_at=NOW - 1),), "inactive"),
        ((_grant(5, expires_at=NOW + 100),), "active"),
        ((_grant(5), _revoke(9), _grant(12, OTHER_HOSPITAL)), "active"),
    ],
)
def test_a_record_survives_a_fhir_round_trip(events: tuple[Any, ...], status: str) -> None:
    record = _record(*events)

    resource = record_to_fhir(record, now=NOW)

    assert resource["resourceType"] == "Consent"
    assert resource["status"] == status
    assert resource["patient"] == {"reference": f"Patient/{PATIENT}"}
    assert resource["sourceReference"]["identifier"]["value"] == record.granted_tx
    assert resource["provision"]["period"]["start"] == resource["dateTime"]
    assert record_from_fhir(resource, now=NOW) == record


def test_the_revocation_ends_the_provision_period_and_is_carried_back() -> None:
    record = _record(_grant(5), _revoke(9))

    resource = record_to_fhir(record, now=NOW)

    assert resource["provision"]["period"]["end"] == "2023-11-14T22:13:29Z"
    assert (record.revoked_block, record.revoked_tx) == (9, "0x" + f"{9:064x}")
    assert record_from_fhir(resource, now=NOW).revoked_at == 1_700_000_009


def test_a_patient_without_a_grant_has_no_record() -> None:
    assert record_from_history([], chain_id=1, registry=REGISTRY) is None


@pytest.mark.parametrize(
    ("change", "element"),
    [
        (lambda r: r.update(resourceType="Patient"), "resourceType"),
        (lambda r: r.update(status="draft"), "status"),
        (lambda r: r.update(status="active"), "status"),  # contradicts the revocation
        (lambda r: r.pop("patient"), "patient"),
        (lambda r: r.update(patient={"reference": "Patient/123"}), "patient"),
        (lambda r: r["provision"].pop("period"), "provision.period"),
        (lambda r: r["provision"]["period"].update(start="2020-01-01T00:00:00Z"),
         "provision.period.start"),
        (lambda r: r.update(dateTime="yesterday"), "dateTime"),
        (lambda r: r.update(dateTime="2023-11-14T22:13:25"), "dateTime"),
        (lambda r: r.pop("sourceReference"), "sourceReference"),
        (lambda r: r.update(extension=[]), "extension chain-id"),
        (lambda r: r.update(scope={"coding": [{"code": "treatment"}]}), "scope"),
    ],
)  # fmt: skip
def test_an_invalid_resource_names_the_element(change: Any, element: str) -> None:
    resource = copy.deepcopy(record_to_fhir(_record(_grant(5), _revoke(9)), now=NOW))
    change(resource)

    with pytest.raises(FhirConsentError) as caught:
        record_from_fhir(resource, now=NOW)
    assert caught.value.element == element
