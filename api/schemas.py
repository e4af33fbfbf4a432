"""Request and response models of the web API (separate from the domain dataclasses)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema

from api.privacy_status import PrivacySpentOut
from api.unlearning import UnlearningOut
from chain.audit import AuditCheck, AuditReport
from chain.round_ledger import Round, UpdateRecord
from consent.events import ConsentEvent, ConsentGranted, PurposesRevoked
from consent.purposes import ConsentScope

__all__ = [
    "UINT64_MAX",
    "UINT256_MAX",
    "AuditCheckOut",
    "AuditPendingOut",
    "AuditReportOut",
    "ConsentEventOut",
    "ConsentStatusOut",
    "PurposeRevocationOut",
    "PurposeRevocationRequest",
    "RevocationOut",
    "RevocationRequest",
    "RoundDetailOut",
    "RoundListOut",
    "RoundOut",
    "Uint64",
    "Uint256",
    "UpdateOut",
]

HEX32 = r"^0x[0-9a-fA-F]{64}$"
UINT64_MAX = 2**64 - 1
UINT256_MAX = 2**256 - 1


def _bounded(maximum: int) -> AfterValidator:
    def check(value: int) -> int:
        if not 0 <= value <= maximum:
            raise ValueError(f"must be an integer from 0 to {maximum}")
        return value

    return AfterValidator(check)


def _exact_schema(maximum: int) -> WithJsonSchema:
    # Written by hand because pydantic's `le=` lands in OpenAPI as a float (FastAPI's OpenAPI
    # model types bounds as floats), which rounds 2**256 - 1 to 1.157920892373162e+77.
    return WithJsonSchema({"type": "integer", "minimum": 0, "maximum": maximum})


Uint64 = Annotated[int, _bounded(UINT64_MAX), _exact_schema(UINT64_MAX)]
"""An integer that fits in a Solidity uint64 (exact bound in the schema)."""
Uint256 = Annotated[int, _bounded(UINT256_MAX), _exact_schema(UINT256_MAX)]
"""An integer that fits in a Solidity uint256 (exact bound in the schema)."""


def hex32(value: bytes) -> str:
    """0x-prefixed lowercase hex of 32 bytes."""
    return "0x" + bytes(value).hex()


class RevocationRequest(BaseModel):
    """A patient's EIP-712 `Revocation(study, patient, nonce, deadline)` signature."""

    model_config = ConfigDict(extra="forbid")

    signature: str = Field(
        pattern=r"^0x[0-9a-fA-F]{130}$", description="65-byte signature, 0x-prefixed hex"
    )
    deadline: Uint64 = Field(description="unix seconds the signature expires (uint64)")
    nonce: Uint256 | None = Field(
        None, description="the nonce signed (uint256); checked against the chain"
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
    receipt: dict[str, Any] | None = Field(
        None,
        description="the consent receipt (consent.receipts) signed by the relayer, for the patient"
        " to keep; null when the relayer's key is held by the node (dev chains)",
    )


class PurposeRevocationRequest(BaseModel):
    """A patient's EIP-712 `PurposeRevocation(study, patient, purposes, nonce, deadline)`
    signature; `purposes` are the DUO codes withdrawn (their mask is what was signed)."""

    model_config = ConfigDict(extra="forbid")

    purposes: list[str] = Field(
        min_length=1, max_length=16, description='DUO codes to withdraw, e.g. ["HMB"]'
    )
    signature: str = Field(
        pattern=r"^0x[0-9a-fA-F]{130}$", description="65-byte signature, 0x-prefixed hex"
    )
    deadline: Uint64 = Field(description="unix seconds the signature expires (uint64)")


class PurposeRevocationOut(BaseModel):
    """The withdrawal on chain: what was withdrawn and what remains (empty: fully revoked)."""

    study: str
    patient: str
    hospital: str
    revoked: list[str]
    remaining: list[str]
    fully_revoked: bool
    tx_hash: str
    block_number: int
    block_timestamp: int


class ConsentEventOut(BaseModel):
    """One grant, revocation, or withdrawal of purposes."""

    kind: Literal["granted", "revoked", "purposes_revoked"]
    hospital: str
    block_number: int
    log_index: int
    tx_hash: str
    timestamp: int
    expires_at: int | None = Field(None, description="grants only; 0 means never")
    nonce: int | None = Field(None, description="grants only")
    valid_from: int | None = Field(None, description="grants only; 0 means from the grant")
    purposes: list[str] | None = Field(
        None, description="DUO codes granted (grants) or still granted (purposes_revoked)"
    )
    revoked_purposes: list[str] | None = Field(None, description="purposes_revoked only")

    @classmethod
    def of(cls, event: ConsentEvent) -> ConsentEventOut:
        """The response form of a domain event."""
        granted = isinstance(event, ConsentGranted)
        narrowed = isinstance(event, PurposesRevoked)
        if isinstance(event, ConsentGranted):
            purposes: list[str] | None = list(ConsentScope.from_mask(event.purposes).codes)
        elif isinstance(event, PurposesRevoked):
            purposes = list(ConsentScope.from_mask(event.remaining).codes)
        else:
            purposes = None
        return cls(
            kind="granted" if granted else "purposes_revoked" if narrowed else "revoked",
            valid_from=event.valid_from if isinstance(event, ConsentGranted) else None,
            purposes=purposes,
            revoked_purposes=(
                list(ConsentScope.from_mask(event.revoked).codes)
                if isinstance(event, PurposesRevoked)
                else None
            ),
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
    consented: bool = Field(
        description="granted, not revoked, covering the study's purpose, in its validity period"
    )
    hospital: str
    granted_block: int
    revoked_block: int | None
    expires_at: int
    valid_from: int = Field(0, description="start of the validity period; 0 = from the grant")
    purposes: list[str] = Field(
        default_factory=list, description="DUO codes still granted (NMDS is a modifier)"
    )
    study_purpose: str | None = Field(None, description="the study's declared DUO purpose")
    covers_study: bool = Field(True, description="whether the purposes cover the study's")
    nonce: Uint256 = Field(
        description="the nonce the patient's next `Revocation` (or `Cancellation`) signs: "
        "`revocationNonce(study, patient)`; the same as `nonces.Revocation`"
    )
    nonces: dict[str, Uint256] = Field(
        description="the nonce the next signature of each EIP-712 primary type of "
        "`GET /v1/eip712` must carry: `Consent` the grant nonce, `Revocation` and "
        "`Cancellation` the patient's own revocation nonce"
    )
    history: list[ConsentEventOut]
    batch: int | None = Field(
        None,
        description="the batch of first consents that granted it, while its per-patient record "
        "is not written on chain yet (`consented` then comes from `isConsentedInBatch` and the "
        "batch proof; a relayed revocation writes the record first); null once written",
    )
    unlearning: UnlearningOut | None = Field(None, description="once revoked (issue 16)")
    privacy: PrivacySpentOut | None = Field(
        None,
        description="modes dp, dp+secagg: the epsilon spent on the hospital's data (issue 14)",
    )


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


class DecisionOut(BaseModel):
    """The strategy's decision on one aggregated update (from the round metrics)."""

    hospital: str
    kept: bool
    weight: float
    reason: str


class ContributionOut(BaseModel):
    """One hospital's contribution value in a round."""

    hospital: str
    value: float


class ContributionsOut(BaseModel):
    """The round's contribution values and the method that computed them."""

    method: str
    gain: float
    evaluations: int
    values: list[ContributionOut]


class RoundDetailOut(RoundOut):
    """A round with its updates (hashes, CIDs, data roots, consent blocks) and, when the API has
    a store and the round's metrics carry them, the strategy's decisions and the values."""

    updates: list[UpdateOut]
    decisions: list[DecisionOut] | None = None
    contributions: ContributionsOut | None = None


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
    """The verifier's report: `passed` is false if any check failed.

    Reports are computed in the background and cached per (study, block): `block` is the block
    the report covers, `head_block` the chain's block when this answer was given; `up_to_date`
    is false while a newer report is being computed (retry after `Retry-After` seconds)."""

    passed: bool
    study: str
    block: int
    rounds: int
    checks: list[AuditCheckOut]
    head_block: int = Field(description="the chain's latest block when this answer was given")
    up_to_date: bool = Field(description="false while a report for a newer block is computed")
    computed_at: float = Field(description="unix time the report was computed")

    @classmethod
    def of(
        cls, report: AuditReport, *, head_block: int, up_to_date: bool, computed_at: float
    ) -> AuditReportOut:
        """The response form of a report."""
        return cls.model_validate(
            {
                **report.to_json(),
                "head_block": head_block,
                "up_to_date": up_to_date,
                "computed_at": computed_at,
            }
        )


class AuditPendingOut(BaseModel):
    """No report of the study is cached yet: one is being computed (202 + Retry-After)."""

    status: Literal["computing"]
    study: str
    head_block: int
    retry_after: int = Field(description="seconds to wait before asking again")
