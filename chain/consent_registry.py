"""Typed facade of the ConsentRegistry contract."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Final

from web3.types import TxReceipt

from chain.abi_codec import codec
from chain.consent_batches import ConsentBatchCalls
from chain.events import PendingConsentsCancelled, RevocationSkipped
from chain.transactions import PendingTransaction
from consent.eip712 import Eip712Domain, consent_registry_domain
from consent.events import ConsentEvent, ConsentGranted, ConsentRevoked, PurposesRevoked
from consent.ids import Address, StudyId, parse_address
from consent.purposes import GENERAL_RESEARCH, ConsentScope

__all__ = [
    "MAX_GRANT_BATCH",
    "MAX_REVOCATION_BATCH",
    "ConsentRecord",
    "ConsentRegistry",
    "RevocationBatchOutcome",
    "SignedConsent",
    "SignedRevocation",
]

MAX_GRANT_BATCH: Final = 300
"""Grants per transaction in `grant_batch`: ~80k gas each for a patient's first grant (two fresh
slots: the record, and its purposes + validity period), so a full batch stays under 25M gas,
inside a 30M block (the gas limit sent is 160k + 95k per grant: 28.7M)."""
STATUS_CHUNK: Final = 5_000
"""Patients per `consentStatusBatch` call (~3k gas each)."""

_GAS_GRANT: Final = 160_000
_GAS_GRANT_EACH: Final = 95_000
_GAS_REVOKE: Final = 90_000
_GAS_REVOKE_SIG: Final = 120_000
_GAS_REVOKE_BATCH: Final = 60_000
_GAS_REVOKE_BATCH_EACH: Final = 75_000
MAX_REVOCATION_BATCH: Final = 200
"""Revocations per `revokeBatchWithSig` (~55k gas each for a first revocation: 200 stay far
inside a 30M block; the gas limit sent is 60k + 75k per entry)."""


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    """A patient's consent in a study; `revoked_block` 0 means not revoked."""

    hospital: Address
    granted_block: int
    revoked_block: int
    expires_at: int
    valid_from: int = 0
    purposes: int = 0
    """DUO mask still granted (`consent.purposes.ConsentScope.from_mask`); 0 if never granted."""
    covers_study: bool = False
    """Whether the purposes cover the study's declared purpose (only then does it count)."""

    @property
    def exists(self) -> bool:
        """Whether a consent was ever granted."""
        return self.granted_block != 0


@dataclass(frozen=True, slots=True)
class SignedConsent:
    """One patient's signed consent, as a hospital submits it."""

    patient: Address
    expires_at: int
    signature: bytes
    deadline: int
    """Unix time after which the signature can no longer be submitted."""
    scope: ConsentScope = GENERAL_RESEARCH
    valid_from: int = 0

    @property
    def terms(self) -> tuple[int, int, int]:
        """The contract's `ConsentTerms(purposes, validFrom, expiresAt)` tuple."""
        return (self.scope.mask, self.valid_from, self.expires_at)


@dataclass(frozen=True, slots=True)
class SignedRevocation:
    """One patient's signed `Revocation(study, patient, nonce, deadline)`, as anyone relays it
    (the nonce is the patient's current revocation nonce when it lands)."""

    patient: Address
    deadline: int
    signature: bytes


@dataclass(frozen=True, slots=True)
class RevocationBatchOutcome:
    """What one `revokeBatchWithSig` did: the revocations it applied, the entries it skipped."""

    revoked: Mapping[Address, ConsentRevoked]
    skipped: Mapping[Address, RevocationSkipped]


class ConsentRegistry(ConsentBatchCalls):
    """Patient-signed consent and its revocation. The sender is the hospital for grants, the
    patient for `revoke`, anyone for `revoke_with_sig`. Batched first consents under one root
    per batch come from `ConsentBatchCalls`."""

    CONTRACT = "ConsentRegistry"

    @cached_property
    def domain(self) -> Eip712Domain:
        """The EIP-712 domain patients sign for (this contract on this chain)."""
        return consent_registry_domain(self.chain.chain_id, self.address)

    def grant_nonce(self, study: StudyId, patient: Address) -> int:
        """The nonce the patient's next `Consent` signature in `study` must carry."""
        return int(self._call("grantNonce", bytes(study), patient))

    def revocation_nonce(self, study: StudyId, patient: Address) -> int:
        """The nonce the patient's next `Revocation` or `Cancellation` in `study` must carry."""
        return int(self._call("revocationNonce", bytes(study), patient))

    def active_consent_count(self, study: StudyId, hospital: Address) -> int:
        """Unrevoked consents with `hospital` in `study` (the bound on an update's patients)."""
        return int(self._call("activeConsentCount", bytes(study), hospital))

    def grant(
        self,
        study: StudyId,
        patient: Address,
        expires_at: int,
        deadline: int,
        signature: bytes,
        *,
        scope: ConsentScope = GENERAL_RESEARCH,
        valid_from: int = 0,
    ) -> ConsentGranted:
        """Record the patient's signed consent (for `scope`, valid from `valid_from` until
        `expires_at`) for the sending hospital."""
        consent = SignedConsent(patient, expires_at, signature, deadline, scope, valid_from)
        receipt = self._transact(
            _GAS_GRANT, "grantWithSig", bytes(study), patient, consent.terms, deadline, signature
        )
        return self._receipt_events_of(receipt, ConsentGranted)[-1]

    def grant_batch(
        self, study: StudyId, consents: Sequence[SignedConsent]
    ) -> list[ConsentGranted]:
        """Record many signed consents, `MAX_GRANT_BATCH` per transaction."""
        granted: list[ConsentGranted] = []
        for start in range(0, len(consents), MAX_GRANT_BATCH):
            chunk = consents[start : start + MAX_GRANT_BATCH]
            receipt = self._transact(
                _GAS_GRANT + _GAS_GRANT_EACH * len(chunk),
                "grantBatchWithSig",
                bytes(study),
                [c.patient for c in chunk],
                [c.terms for c in chunk],
                [c.deadline for c in chunk],
                [c.signature for c in chunk],
            )
            granted.extend(self._receipt_events_of(receipt, ConsentGranted))
        return granted

    def revoke(self, study: StudyId) -> ConsentRevoked:
        """The sending patient revokes their consent in `study`."""
        receipt = self._transact(_GAS_REVOKE, "revoke", bytes(study))
        return self._single_event(receipt, ConsentRevoked)

    def revoke_with_sig(
        self, study: StudyId, patient: Address, deadline: int, signature: bytes
    ) -> ConsentRevoked:
        """Relay the patient's signed revocation (the sender pays the gas)."""
        receipt = self._transact(
            _GAS_REVOKE_SIG, "revokeWithSig", bytes(study), patient, deadline, signature
        )
        return self._single_event(receipt, ConsentRevoked)

    def send_revoke_batch(
        self, study: StudyId, revocations: Sequence[SignedRevocation]
    ) -> PendingTransaction:
        """Send up to `MAX_REVOCATION_BATCH` signed revocations as one `revokeBatchWithSig`
        without waiting; settle it with `revoke_batch_outcome`."""
        if not 0 < len(revocations) <= MAX_REVOCATION_BATCH:
            raise ValueError(f"{len(revocations)} revocations; 1 to {MAX_REVOCATION_BATCH}")
        return self._send(
            _GAS_REVOKE_BATCH + _GAS_REVOKE_BATCH_EACH * len(revocations),
            "revokeBatchWithSig",
            bytes(study),
            [r.patient for r in revocations],
            [r.deadline for r in revocations],
            [r.signature for r in revocations],
        )

    def revoke_batch_outcome(self, pending: PendingTransaction) -> RevocationBatchOutcome:
        """Wait for a sent revocation batch; what it revoked and what it skipped."""
        receipt = self._wait(pending)
        revoked: dict[Address, ConsentRevoked] = {}
        skipped: dict[Address, RevocationSkipped] = {}
        for event in self.receipt_events(receipt):
            if isinstance(event, ConsentRevoked):
                revoked[event.patient] = event
            elif isinstance(event, RevocationSkipped):
                skipped.setdefault(event.patient, event)
        return RevocationBatchOutcome(revoked, skipped)

    def revoke_purposes(self, study: StudyId, purposes: int) -> PurposesRevoked | ConsentRevoked:
        """The sending patient withdraws the DUO `purposes` mask from their consent; a
        `ConsentRevoked` when nothing remains."""
        receipt = self._transact(_GAS_REVOKE, "revokePurposes", bytes(study), purposes)
        return self._purposes_event(receipt)

    def revoke_purposes_with_sig(
        self, study: StudyId, patient: Address, purposes: int, deadline: int, signature: bytes
    ) -> PurposesRevoked | ConsentRevoked:
        """Relay the patient's signed `PurposeRevocation` (the sender pays the gas)."""
        receipt = self._transact(
            _GAS_REVOKE_SIG,
            "revokePurposesWithSig",
            bytes(study),
            patient,
            purposes,
            deadline,
            signature,
        )
        return self._purposes_event(receipt)

    def _purposes_event(self, receipt: TxReceipt) -> PurposesRevoked | ConsentRevoked:
        events = self._receipt_events_of(receipt, PurposesRevoked)
        return events[0] if events else self._single_event(receipt, ConsentRevoked)

    def cancel_pending(self, study: StudyId) -> PendingConsentsCancelled:
        """The sending patient cancels their consent signatures not yet submitted in `study`."""
        receipt = self._transact(_GAS_REVOKE, "cancelPendingConsents", bytes(study))
        return self._single_event(receipt, PendingConsentsCancelled)

    def cancel_pending_with_sig(
        self, study: StudyId, patient: Address, deadline: int, signature: bytes
    ) -> PendingConsentsCancelled:
        """Relay the patient's signed cancellation of their pending consent signatures."""
        receipt = self._transact(
            _GAS_REVOKE_SIG,
            "cancelPendingConsentsWithSig",
            bytes(study),
            patient,
            deadline,
            signature,
        )
        return self._single_event(receipt, PendingConsentsCancelled)

    def record(self, study: StudyId, patient: Address, block: int | None = None) -> ConsentRecord:
        """The patient's consent record (all zero if never granted)."""
        raw = self._call("consentRecord", bytes(study), patient, block=block)
        return ConsentRecord(
            hospital=parse_address(raw[0]),
            granted_block=int(raw[1]),
            revoked_block=int(raw[2]),
            expires_at=int(raw[3]),
            valid_from=int(raw[4]),
            purposes=int(raw[5]),
            covers_study=bool(raw[6]),
        )

    def is_consented(self, study: StudyId, patient: Address) -> bool:
        """Whether the patient consents now (granted, not revoked, covering the study's
        purpose, inside its validity period)."""
        return bool(self._call("isConsented", bytes(study), patient))

    def status_batch(
        self, study: StudyId, patients: Sequence[Address], block: int | None = None
    ) -> list[bool]:
        """`is_consented` for many patients, `STATUS_CHUNK` per `consentStatusBatch` call (the
        lean view path, `_call`: web3's contract wrapper spends ~0.3 s encoding 8k addresses)."""
        statuses: list[bool] = []
        for start in range(0, len(patients), STATUS_CHUNK):
            chunk = list(patients[start : start + STATUS_CHUNK])
            answer = self._call("consentStatusBatch", bytes(study), chunk, block=block)
            statuses.extend(bool(v) for v in answer)
        return statuses

    def status_batch_gas(self, study: StudyId, patients: Sequence[Address]) -> int:
        """Gas a single `consentStatusBatch` call over `patients` uses (for benchmarks)."""
        data = codec(self.CONTRACT, "consentStatusBatch").calldata([bytes(study), list(patients)])
        return int(self.chain.w3.eth.estimate_gas({"to": self._contract.address, "data": data}))

    def last_revocation_block(self, study: StudyId, hospital: Address) -> int:
        """Block of the last revocation among `hospital`'s patients in `study` (0 if none)."""
        return int(self._call("lastRevocationBlock", bytes(study), hospital))

    def purposes_cover(self, scope: int, purpose: int) -> bool:
        """The contract's DUO coverage rule over two masks (held against `consent.purposes`)."""
        return bool(self._call("purposesCover", scope, purpose))

    def domain_separator(self) -> bytes:
        """The contract's EIP-712 domain separator."""
        return bytes(self._call("DOMAIN_SEPARATOR"))

    def consent_events(self, from_block: int, to_block: int | None = None) -> list[ConsentEvent]:
        """`ConsentGranted` / `ConsentRevoked` / `ConsentPurposesRevoked` events in a block
        range, in chain order."""
        return [
            e
            for e in self.events(from_block, to_block)
            if isinstance(e, ConsentGranted | ConsentRevoked | PurposesRevoked)
        ]
