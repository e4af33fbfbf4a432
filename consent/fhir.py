"""A patient's consent record as an HL7 FHIR R4 `Consent` resource, out and back in.

Export maps the latest grant of a patient in a study (and the revocation that ended it, if any)
to a Consent resource: `status` active or inactive, `scope` research, the `patient` and the
hospital (`organization`) as references keyed by their Ethereum addresses, `dateTime` of the
grant, `sourceReference` to the grant transaction, `policy` naming the on-chain registry, and a
`provision` permitting research use over `period` (grant time to revocation or expiry). Chain
positions (blocks, the revocation transaction) that FHIR R4 has no element for travel as
extensions. Import checks that shape and rebuilds the same record, so a record survives a round
trip through any FHIR server that keeps extensions.

Written by hand against the R4 Consent definition (hl7.org/fhir/R4/consent.html): the maintained
Python FHIR model libraries (fhir.resources and kin) pull in a second pydantic model stack for one
resource of about twenty fields; the checks here are the ones this record needs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from eth_utils.address import is_checksum_address

from consent.errors import ConsentError
from consent.events import ConsentEvent, ConsentGranted, ConsentRevoked
from consent.ids import Address

__all__ = [
    "ConsentRecord",
    "FhirConsentError",
    "record_from_fhir",
    "record_from_history",
    "record_to_fhir",
]

_EXT: Final = "urn:consentfl:fhir:"
_SCOPE: Final = "http://terminology.hl7.org/CodeSystem/consentscope"
_CATEGORY: Final = "http://loinc.org"
_ACT_REASON: Final = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
_STUDY_SYSTEM: Final = "urn:consentfl:study"
_TX_SYSTEM: Final = "urn:consentfl:tx"


class FhirConsentError(ConsentError, ValueError):
    """A FHIR Consent resource that is not a consentfl consent record (names the element)."""

    def __init__(self, element: str, reason: str) -> None:
        super().__init__(f"FHIR Consent {element}: {reason}")
        self.element = element
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    """One consent of a patient in a study: its grant and, if it ended so, its revocation."""

    study: str
    patient: Address
    hospital: Address
    chain_id: int
    registry: Address
    granted_tx: str
    granted_block: int
    granted_at: int
    expires_at: int
    revoked_tx: str | None = None
    revoked_block: int | None = None
    revoked_at: int | None = None

    def active(self, now: int) -> bool:
        """Granted, not revoked, not expired at unix time `now`."""
        return self.revoked_tx is None and (self.expires_at == 0 or self.expires_at > now)


def record_from_history(
    events: Iterable[ConsentEvent], *, chain_id: int, registry: Address
) -> ConsentRecord | None:
    """The latest consent in a patient's history (oldest first), or None if never granted."""
    grant: ConsentGranted | None = None
    revocation: ConsentRevoked | None = None
    for event in events:
        if isinstance(event, ConsentGranted):
            grant, revocation = event, None
        elif grant is not None and revocation is None:
            revocation = event
    if grant is None:
        return None
    return ConsentRecord(
        study="0x" + bytes(grant.study).hex(),
        patient=grant.patient,
        hospital=grant.hospital,
        chain_id=chain_id,
        registry=registry,
        granted_tx=grant.tx_hash,
        granted_block=grant.position.block_number,
        granted_at=grant.block_timestamp,
        expires_at=grant.expires_at,
        revoked_tx=None if revocation is None else revocation.tx_hash,
        revoked_block=None if revocation is None else revocation.position.block_number,
        revoked_at=None if revocation is None else revocation.block_timestamp,
    )


def _iso(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _unix(value: Any, element: str) -> int:
    if not isinstance(value, str):
        raise FhirConsentError(element, "missing or not a dateTime")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise FhirConsentError(element, f"not a FHIR dateTime: {value!r}") from exc
    if parsed.tzinfo is None:
        raise FhirConsentError(element, "a dateTime with a time needs a time zone")
    return int(parsed.timestamp())


def _end(record: ConsentRecord) -> int | None:
    if record.revoked_at is not None:
        return record.revoked_at
    return record.expires_at or None


def record_to_fhir(record: ConsentRecord, *, now: int) -> dict[str, Any]:
    """The FHIR R4 Consent resource of `record`, its status as of unix time `now`."""
    extensions: list[dict[str, Any]] = [
        {"url": _EXT + "chain-id", "valueUnsignedInt": record.chain_id},
        {"url": _EXT + "granted-block", "valueUnsignedInt": record.granted_block},
        {"url": _EXT + "expires-at", "valueUnsignedInt": record.expires_at},
    ]
    if record.revoked_tx is not None:
        extensions += [
            {"url": _EXT + "revocation-tx", "valueString": record.revoked_tx},
            {"url": _EXT + "revoked-block", "valueUnsignedInt": record.revoked_block},
        ]
    period: dict[str, str] = {"start": _iso(record.granted_at)}
    end = _end(record)
    if end is not None:
        period["end"] = _iso(end)
    return {
        "resourceType": "Consent",
        "id": f"{record.patient[2:].lower()}-{record.granted_block}",
        "extension": extensions,
        "identifier": [{"system": _STUDY_SYSTEM, "value": f"{record.study}/{record.patient}"}],
        "status": "active" if record.active(now) else "inactive",
        "scope": {"coding": [{"system": _SCOPE, "code": "research"}]},
        "category": [{"coding": [{"system": _CATEGORY, "code": "57016-8"}]}],
        "patient": {"reference": f"Patient/{record.patient}"},
        "dateTime": _iso(record.granted_at),
        "organization": [{"reference": f"Organization/{record.hospital}"}],
        "sourceReference": {
            "identifier": {"system": f"{_TX_SYSTEM}:{record.chain_id}", "value": record.granted_tx}
        },
        "policy": [{"uri": f"urn:consentfl:registry:{record.chain_id}:{record.registry}"}],
        "provision": {
            "type": "permit",
            "period": period,
            "purpose": [{"system": _ACT_REASON, "code": "HRESCH"}],
        },
    }


def _get(mapping: Mapping[str, Any], key: str, kind: type, element: str) -> Any:
    value = mapping.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise FhirConsentError(element, f"missing or not {kind.__name__}")
    return value


def _reference(resource: Mapping[str, Any], element: str, prefix: str) -> Address:
    value = _get(resource, "reference", str, element)
    address = value.removeprefix(prefix)
    if not value.startswith(prefix) or not is_checksum_address(address):
        raise FhirConsentError(element, f"not a reference {prefix}<checksummed address>")
    return Address(address)


def _extensions(resource: Mapping[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for ext in _get(resource, "extension", list, "extension"):
        if isinstance(ext, dict) and str(ext.get("url", "")).startswith(_EXT):
            values = [v for k, v in ext.items() if k.startswith("value")]
            found[ext["url"].removeprefix(_EXT)] = values[0] if values else None
    return found


def _ext_int(found: Mapping[str, Any], name: str) -> int:
    value = found.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise FhirConsentError(f"extension {name}", "missing or not an unsignedInt")
    return value


def _check_codes(resource: Mapping[str, Any], status: str) -> None:
    if resource.get("resourceType") != "Consent":
        raise FhirConsentError("resourceType", "not 'Consent'")
    if status not in ("active", "inactive"):
        raise FhirConsentError("status", f"{status!r} is neither active nor inactive")
    scope = _get(resource, "scope", dict, "scope").get("coding") or [{}]
    if scope[0].get("code") != "research":
        raise FhirConsentError("scope", "not the research scope")
    provision = _get(resource, "provision", dict, "provision")
    if provision.get("type") != "permit":
        raise FhirConsentError("provision.type", "not 'permit'")


def record_from_fhir(resource: Any, *, now: int) -> ConsentRecord:
    """The consent record in a FHIR R4 Consent resource written by `record_to_fhir`.

    Raises `FhirConsentError` naming the first element that is missing or inconsistent, including
    a `status` that contradicts the record at unix time `now`.
    """
    if not isinstance(resource, dict):
        raise FhirConsentError("(root)", "not a JSON object")
    status = _get(resource, "status", str, "status")
    _check_codes(resource, status)
    found = _extensions(resource)
    identifier = _get(resource, "identifier", list, "identifier")
    study = str(identifier[0].get("value", "")).split("/")[0] if identifier else ""
    if len(study) != 66 or not study.startswith("0x"):
        raise FhirConsentError("identifier", "no study id (0x + 64 hex)")
    source = _get(resource, "sourceReference", dict, "sourceReference").get("identifier") or {}
    granted_tx = _get(source, "value", str, "sourceReference.identifier.value")
    policy = _get(resource, "policy", list, "policy")
    registry = str(policy[0].get("uri", "")).rsplit(":", 1)[-1] if policy else ""
    if not is_checksum_address(registry):
        raise FhirConsentError("policy", "no registry address")
    period = _get(resource["provision"], "period", dict, "provision.period")
    record = ConsentRecord(
        study=study,
        patient=_reference(_get(resource, "patient", dict, "patient"), "patient", "Patient/"),
        hospital=_reference(
            (_get(resource, "organization", list, "organization") or [{}])[0],
            "organization",
            "Organization/",
        ),
        chain_id=_ext_int(found, "chain-id"),
        registry=Address(registry),
        granted_tx=granted_tx,
        granted_block=_ext_int(found, "granted-block"),
        granted_at=_unix(resource.get("dateTime"), "dateTime"),
        expires_at=_ext_int(found, "expires-at"),
        revoked_tx=found.get("revocation-tx"),
        revoked_block=_ext_int(found, "revoked-block") if "revocation-tx" in found else None,
        revoked_at=_unix(period.get("end"), "provision.period.end")
        if "revocation-tx" in found
        else None,
    )
    if _unix(period.get("start"), "provision.period.start") != record.granted_at:
        raise FhirConsentError("provision.period.start", "differs from dateTime")
    if (status == "active") != record.active(now):
        raise FhirConsentError("status", f"{status!r} contradicts the revocation and expiry")
    return record
