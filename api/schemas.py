"""Request and response models of the web API (separate from the domain dataclasses)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from chain.audit import AuditCheck, AuditReport
from chain.round_ledger import Round, UpdateRecord
from consent.events import ConsentEvent, ConsentGranted

__all__ = [
    "AuditCheckOut",
    "AuditReportOut",
    "ComponentHealth",
    "ConsentEventOut",
    "ConsentStatusOut",
    "HealthOut",
    "RevocationOut",
    "RevocationRequest",
    "RoundDetailOut",
    "RoundListOut",
    "RoundOut",
    "UpdateOut",
]

HEX32 = r"^0x[0-9a-fA-F]{64}$"
UINT64_MAX = 2**64 - 1


def hex32(value: bytes) -> str:
    """0x-prefixed lowercase hex of 32 bytes."""
    return "0x" + bytes(value).hex()


class RevocationRequest(BaseModel):
    """A patient's EIP-712 `Revocation(study, patient, nonce, deadline)` signature."""

    model_config = ConfigDict(extra="forbid")

    signature: str = Field(
        pattern=r"^0x[0-9a-fA-F]{130}$", description="65-byte signature, 0x-prefixed hex"
    )
    deadline: int = Field(ge=0, le=UINT64_MAX, description="unix seconds the signature expires")
    nonce: int | None = Field(
        None, ge=0, le=2**256 - 1, description="the nonce signed; checked against the chain"
    )


class RevocationOut(BaseModel):
    """The revocation on chain."""

    study: str
    patient: str
    hospital: str
    tx_hash: str
    block_number: int
    log_index: int
    block_timestamp: int
    already_revoked: bool = Field(description="true when the consent was revoked before")


class ConsentEventOut(BaseModel):
    """One grant or revocation."""

    kind: Literal["granted", "revoked"]
    hospital: str
    block_number: int
    log_index: int
    tx_hash: str
    timestamp: int
    expires_at: int | None = Field(None, description="grants only; 0 means never")
    nonce: int | None = Field(None, description="grants only")

    @classmethod
    def of(cls, event: ConsentEvent) -> ConsentEventOut:
        """The response form of a domain event."""
        granted = isinstance(event, ConsentGranted)
        return cls(
            kind="granted" if granted else "revoked",
            hospital=event.hospital,
            block_number=event.position.block_number,
            log_index=event.position.log_index,
            tx_hash=event.tx_hash,
            timestamp=event.block_timestamp,
            expires_at=event.expires_at if isinstance(event, ConsentGranted) else None,
            nonce=event.nonce if isinstance(event, ConsentGranted) else None,
        )


class ConsentStatusOut(BaseModel):
    """A patient's consent in a study, now, with its history."""

    study: str
    patient: str
    consented: bool = Field(description="granted, not revoked and not expired, now")
    hospital: str
    granted_block: int
    revoked_block: int | None
    expires_at: int
    nonce: int = Field(description="the nonce the patient's next signature must use")
    history: list[ConsentEventOut]


class UpdateOut(BaseModel):
    """One hospital's update in a round."""

    hospital: str
    update_hash: str
    update_cid: str
    num_samples: int
    data_root: str
    consent_block: int
    submitted_block: int

    @classmethod
    def of(cls, update: UpdateRecord) -> UpdateOut:
        """The response form of a ledger update."""
        return cls(
            hospital=update.hospital,
            update_hash=hex32(update.update_hash),
            update_cid=update.update_cid,
            num_samples=update.num_samples,
            data_root=hex32(update.data_root),
            consent_block=update.consent_block,
            submitted_block=update.submitted_block,
        )


class RoundOut(BaseModel):
    """A round's on-chain record."""

    round: int
    state: Literal["open", "finalized"]
    base_model_hash: str
    base_model_cid: str
    model_hash: str | None
    model_cid: str | None
    metrics_cid: str | None
    opened_block: int
    finalized_block: int | None
    update_count: int

    @classmethod
    def fields_of(cls, record: Round) -> dict[str, object]:
        """The round's fields for this model or a subclass."""
        finalized = record.finalized_block != 0
        return {
            "round": record.round,
            "state": "finalized" if finalized else "open",
            "base_model_hash": hex32(record.base_model_hash),
            "base_model_cid": record.base_model_cid,
            "model_hash": hex32(record.model_hash) if finalized else None,
            "model_cid": record.model_cid if finalized else None,
            "metrics_cid": (record.metrics_cid or None) if finalized else None,
            "opened_block": record.opened_block,
            "finalized_block": record.finalized_block if finalized else None,
            "update_count": record.update_count,
        }


class RoundDetailOut(RoundOut):
    """A round with its updates (hashes, CIDs, data roots, consent blocks)."""

    updates: list[UpdateOut]


class RoundListOut(BaseModel):
    """A page of a study's rounds."""

    study: str
    count: int = Field(description="rounds opened in the study")
    offset: int
    rounds: list[RoundOut]


class AuditCheckOut(BaseModel):
    """One verified fact."""

    check: str
    passed: bool
    round: int | None
    hospital: str | None
    subject: str
    detail: str

    @classmethod
    def of(cls, check: AuditCheck) -> AuditCheckOut:
        """The response form of a check."""
        return cls.model_validate(check.to_json())


class AuditReportOut(BaseModel):
    """The verifier's report: `passed` is false if any check failed."""

    passed: bool
    study: str
    block: int
    rounds: int
    checks: list[AuditCheckOut]

    @classmethod
    def of(cls, report: AuditReport) -> AuditReportOut:
        """The response form of a report."""
        return cls.model_validate(report.to_json())


class ComponentHealth(BaseModel):
    """One dependency's health."""

    ok: bool
    detail: str


class HealthOut(BaseModel):
    """Whether the chain, the contracts and the store are reachable."""

    status: Literal["ok", "unavailable"]
    chain: ComponentHealth
    contracts: ComponentHealth
    store: ComponentHealth
