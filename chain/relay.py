"""Relay a patient's signed revocation (batched) or cancellation: check everything first.

`RevocationRelay.revoke` is what the web API calls. Before anything is sent it checks that the
study exists, that the patient ever consented, the deadline, the nonce and that the EIP-712
signature recovers to the patient, so a bad request never costs gas or reaches the chain.
Revoking an already revoked consent returns the original revocation without a transaction.

Those checks cost no view call in the usual case: a `RelayView` follows the registry's logs and
knows which patients hold an untouched consent (revocation nonce 0), and a `ChainClock` caches
the chain's time. The view is only ever used to *send*: the contract checks again and skips a
bad entry, and every refusal, and every "already revoked", is decided from fresh chain reads
(record, nonce, latest block), so a stale view costs a skipped entry, never a wrong answer.
A patient granted in a batch of first consents whose record is not written yet has it written
(`materializeConsent`, from the batch proof) by the batcher right before the revocation.

`RevocationRelay.cancel_pending` relays a signed `Cancellation` (every consent signature of the
study not yet submitted becomes unusable) with the same checks, except enrolment: a patient who
never consented may hold signatures a hospital has not submitted yet, which is what it is for.
A cancellation is sent on its own, under the relay's lock.

Checked revocations wait in a `RevocationBatcher`: every revocation waiting when the sender is
free goes out in one `revokeBatchWithSig`, sent by one sender that counts its own nonces, so
several batches are in flight while earlier ones are mined; each request waits for its own
batch's receipt, outside any lock. Two concurrent requests for the same patient share one entry;
one that arrives after the other landed is skipped on chain and answered as already revoked.
With a journal (`RevocationJournal`) nothing accepted is lost on a crash: it is resent on restart.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from chain.consent_batches import BatchMembership
from chain.consent_registry import ConsentRegistry, SignedRevocation
from chain.deploy import Ledger
from chain.errors import (
    ChainError,
    ChainUnavailableError,
    InvalidSignerError,
    SignatureExpiredError,
    UnknownStudyError,
)
from chain.events import PendingConsentsCancelled
from chain.relay_batcher import Batching, RevocationBatcher
from chain.relay_journal import RevocationJournal
from chain.relay_view import ChainClock, PatientState, RelayView
from consent.eip712 import (
    Eip712Domain,
    InvalidSignatureError,
    recover_cancellation_signer,
    recover_revocation_signer,
)
from consent.events import ConsentRevoked
from consent.ids import Address, StudyId

__all__ = [
    "DeadlineExpiredError",
    "NonceMismatchError",
    "PatientNotEnrolledError",
    "RelayError",
    "RelayedRevocation",
    "RevocationRelay",
    "RevocationReplayError",
    "RevocationSignatureError",
]

logger = logging.getLogger(__name__)

_SECP256K1_HALF_N: Final = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141 // 2
_REPLAY_LOOKBACK: Final = 8
"""How many used nonces to try when a signature does not match the current one."""
_WAIT_S: Final = 150.0
"""How long a request waits for its batch (past the sender's 120 s receipt timeout)."""

_Recover = Callable[[Eip712Domain, StudyId, Address, int, int, bytes], Address]
"""`recover_revocation_signer` or `recover_cancellation_signer`: (domain, study, patient, nonce,
deadline, signature) -> signer."""


class RelayError(ChainError):
    """A revocation the relay refuses to send."""


class PatientNotEnrolledError(RelayError, LookupError):
    """The patient never consented in the study: there is nothing to revoke."""

    def __init__(self, study: StudyId, patient: Address) -> None:
        super().__init__(f"patient {patient} never consented in study 0x{bytes(study).hex()}")
        self.study = study
        self.patient = patient


class RevocationSignatureError(RelayError, PermissionError):
    """The signature is malformed, malleable, or not the patient's for the current nonce."""

    def __init__(self, patient: Address, reason: str) -> None:
        super().__init__(f"not a valid revocation signature of {patient}: {reason}")
        self.patient = patient
        self.reason = reason


class RevocationReplayError(RelayError, ValueError):
    """The signature is the patient's, but for a nonce already used."""

    def __init__(self, patient: Address, nonce: int, current: int) -> None:
        super().__init__(f"signature of {patient} uses nonce {nonce}; the current one is {current}")
        self.patient = patient
        self.nonce = nonce
        self.current = current


class NonceMismatchError(RelayError, ValueError):
    """The request names a nonce that is not the patient's current one."""

    def __init__(self, patient: Address, nonce: int, current: int) -> None:
        super().__init__(f"nonce {nonce} given for {patient}; the current one is {current}")
        self.patient = patient
        self.nonce = nonce
        self.current = current


class DeadlineExpiredError(RelayError, ValueError):
    """The signed deadline is not after the chain's latest block time."""

    def __init__(self, deadline: int, now: int) -> None:
        super().__init__(f"deadline {deadline} is not after the chain's time {now}")
        self.deadline = deadline
        self.now = now


@dataclass(frozen=True, slots=True)
class RelayedRevocation:
    """The revocation on chain; `already_revoked` when it predates the request."""

    event: ConsentRevoked
    already_revoked: bool


def _check_form(patient: Address, signature: bytes) -> None:
    """A 65-byte signature with a low `s` (what the contract's OpenZeppelin ECDSA accepts)."""
    if len(signature) != 65:
        raise RevocationSignatureError(patient, f"{len(signature)} bytes, expected 65")
    if int.from_bytes(signature[32:64], "big") > _SECP256K1_HALF_N:
        raise RevocationSignatureError(patient, "malleable signature (high s)")


class RevocationRelay:
    """Checks and relays `revokeWithSig` for patients, paying the gas with `ledger`'s sender."""

    def __init__(
        self,
        ledger: Ledger,
        *,
        journal: RevocationJournal | None = None,
        max_batch: int = 200,
        view: bool = True,
        batcher: Batching | None = None,
    ) -> None:
        """With `view` (the default) requests are checked against a `RelayView` of the
        registry's logs and a cached chain time instead of view calls (see the module
        docstring); without it every request reads the record, the nonce and the time.
        `batcher` replaces the in-process `RevocationBatcher` (`chain.relay_client`)."""
        self._ledger = ledger
        self._lock = threading.Lock()
        self._known_studies: set[StudyId] = set()
        self._view = RelayView(ledger.consents, ledger.manifest.deploy_block) if view else None
        self._clock = ChainClock(ledger.chain)
        self._batcher: Batching = batcher or RevocationBatcher(
            ledger.consents, journal, max_batch=max_batch
        )
        self.resumed = self._batcher.resume(self._unmaterialized)
        """How many journalled revocations were queued again at start."""

    @property
    def ledger(self) -> Ledger:
        """The ledger the relay sends with."""
        return self._ledger

    @property
    def lock(self) -> threading.Lock:
        """The lock relayed purpose withdrawals hold while they check and send (revocations go
        through the batcher; the sender's nonce counter keeps the two apart)."""
        return self._lock

    @property
    def consents(self) -> ConsentRegistry:
        """The registry facade the relay sends with (its sender signs the receipts)."""
        return self._ledger.consents

    def revoke(
        self,
        study: StudyId,
        patient: Address,
        *,
        deadline: int,
        signature: bytes,
        nonce: int | None = None,
    ) -> RelayedRevocation:
        """Revoke `patient`'s consent in `study` with their signature; see the module docstring.

        Raises `UnknownStudyError`, `PatientNotEnrolledError`, `DeadlineExpiredError`,
        `NonceMismatchError`, `RevocationReplayError`, `RevocationSignatureError`, and
        `ChainUnavailableError` when the node is down (the revocation has not landed; with a
        journal it stays there and is resent at the next start, and retrying the same request is
        safe: it sends it again, or returns the revocation if one landed).
        """
        self._check_study(study)
        _check_form(patient, signature)
        state = None if self._view is None else self._view.state(study, patient)
        untouched = state is not None and state is not PatientState.TOUCHED
        if untouched and self._plausible(study, patient, deadline, signature, nonce):
            member = self._member(study, patient) if state is PatientState.IN_BATCH else None
            if state is PatientState.RECORDED or member is not None:
                revocation = SignedRevocation(patient, deadline, signature)
                with contextlib.suppress(RelayError):  # refused on a stale hint: re-read
                    return self._send(study, revocation, member)
        return self._revoke_read(study, patient, deadline, signature, nonce)

    def _plausible(
        self, study: StudyId, patient: Address, deadline: int, signature: bytes, nonce: int | None
    ) -> bool:
        """Whether the request passes the checks against the view (an untouched patient's
        revocation nonce is 0) and the cached chain time; False is decided again from reads."""
        if nonce not in (None, 0) or deadline <= self._clock.now():
            return False
        domain = self._ledger.consents.domain
        try:
            return recover_revocation_signer(domain, study, patient, 0, deadline, signature) == (
                patient
            )
        except (InvalidSignatureError, ValueError):
            return False

    def _revoke_read(
        self, study: StudyId, patient: Address, deadline: int, signature: bytes, nonce: int | None
    ) -> RelayedRevocation:
        """`revoke` from chain reads: the record, the nonce and the chain's time."""
        consents = self._ledger.consents
        record = consents.record(study, patient)
        member = None
        if not record.exists:
            member = self._member(study, patient)
            if member is None:
                raise PatientNotEnrolledError(study, patient)
        current = consents.revocation_nonce(study, patient)
        if record.revoked_block:
            # A retry of a revocation that landed: its nonce is used up by now.
            self._check_signature(study, patient, deadline, signature, current, accept_used=True)
            return RelayedRevocation(self._find(study, patient, record.revoked_block), True)
        self._check_fresh(patient, deadline, nonce, current)
        self._check_signature(study, patient, deadline, signature, current)
        return self._send(study, SignedRevocation(patient, deadline, signature), member)

    def _member(self, study: StudyId, patient: Address) -> BatchMembership | None:
        """The batch proof of a consent granted in a batch of first consents
        (`chain.consent_batches`), which the batcher materializes (the relay pays) right before
        the revocation, through the same sender; None for a patient in no batch."""
        return self._ledger.consents.membership(study, patient)

    def _unmaterialized(self, study: StudyId, patient: Address) -> BatchMembership | None:
        """For a journalled revocation resent at start: its batch proof if it has no record."""
        if self._ledger.consents.record(study, patient).exists:
            return None
        return self._member(study, patient)

    def _check_study(self, study: StudyId) -> None:
        if study in self._known_studies:
            return  # studies are never deleted
        if not self._ledger.studies.study_exists(study):
            raise UnknownStudyError({"study_id": bytes(study)})
        self._known_studies.add(study)

    def cancel_pending(
        self,
        study: StudyId,
        patient: Address,
        *,
        deadline: int,
        signature: bytes,
        nonce: int | None = None,
    ) -> PendingConsentsCancelled:
        """Relay `patient`'s signed `Cancellation(study, patient, nonce, deadline)`: grant nonces
        below the event's `next_grant_nonce` are dead, so no pending consent signature can be
        submitted. The patient need not have consented ever.

        Raises `UnknownStudyError`, `DeadlineExpiredError`, `NonceMismatchError`,
        `RevocationReplayError` (a cancellation is usable once: a retry of one that landed is a
        replay), `RevocationSignatureError`, and `ChainUnavailableError` (nothing was cancelled).
        """
        consents = self._ledger.consents
        with self._lock:
            if not self._ledger.studies.study_exists(study):
                raise UnknownStudyError({"study_id": bytes(study)})
            current = consents.revocation_nonce(study, patient)
            self._check_fresh(patient, deadline, nonce, current)
            self._check_signature(
                study, patient, deadline, signature, current, recover=recover_cancellation_signer
            )
            try:
                event = consents.cancel_pending_with_sig(study, patient, deadline, signature)
            except InvalidSignerError as exc:
                raise RevocationSignatureError(patient, "the contract rejected it") from exc
            except SignatureExpiredError as exc:
                raise DeadlineExpiredError(deadline, int(exc.arguments["timestamp"])) from exc
        logger.info("relayed a cancellation in block %d", event.position.block_number)
        return event

    def _check_fresh(
        self, patient: Address, deadline: int, nonce: int | None, current: int
    ) -> None:
        """The signed deadline is after the chain's time and the nonce named (if any) is the
        patient's `current` one (the checks a revocation and a cancellation share)."""
        now = self._ledger.chain.block_timestamp()
        if deadline <= now:
            raise DeadlineExpiredError(deadline, now)
        if nonce is not None and nonce != current:
            if nonce < current:
                raise RevocationReplayError(patient, nonce, current)
            raise NonceMismatchError(patient, nonce, current)

    def _check_signature(
        self,
        study: StudyId,
        patient: Address,
        deadline: int,
        signature: bytes,
        current: int,
        *,
        accept_used: bool = False,
        recover: _Recover = recover_revocation_signer,
    ) -> None:
        _check_form(patient, signature)
        domain = self._ledger.consents.domain
        for tried in range(current, max(current - _REPLAY_LOOKBACK, -1), -1):
            try:
                signer = recover(domain, study, patient, tried, deadline, signature)
            except (InvalidSignatureError, ValueError) as exc:
                raise RevocationSignatureError(patient, str(exc)) from exc
            if signer == patient:
                if tried < current and not accept_used:
                    raise RevocationReplayError(patient, tried, current)
                return
        raise RevocationSignatureError(patient, "it does not recover to the patient")

    def _send(
        self, study: StudyId, revocation: SignedRevocation, member: BatchMembership | None
    ) -> RelayedRevocation:
        patient = revocation.patient
        if self._view is not None:
            self._view.touch(study, patient)  # its nonce moves now, or the chain says why not
        try:
            result = self._batcher.submit(study, revocation, member).result(timeout=_WAIT_S)
        except TimeoutError as exc:
            raise ChainUnavailableError(self._ledger.chain.rpc, "the batch was not mined") from exc
        except ChainUnavailableError:
            raise
        except ChainError:
            # The batch reverted as a whole: nothing of it landed, unless this patient's
            # revocation did in a batch of its own meanwhile; a retry is safe.
            record = self._ledger.consents.record(study, patient)
            if record.revoked_block:
                return RelayedRevocation(self._find(study, patient, record.revoked_block), True)
            raise
        if isinstance(result, ConsentRevoked):
            logger.info("relayed a revocation in block %d", result.position.block_number)
            return RelayedRevocation(result, False)
        if result.reason == "NoActiveConsent":
            record = self._ledger.consents.record(study, patient)
            if record.revoked_block:
                return RelayedRevocation(self._find(study, patient, record.revoked_block), True)
            raise PatientNotEnrolledError(study, patient)
        if result.reason == "SignatureExpired":
            raise DeadlineExpiredError(revocation.deadline, self._ledger.chain.block_timestamp())
        raise RevocationSignatureError(patient, "the contract rejected it")

    def _find(self, study: StudyId, patient: Address, block: int) -> ConsentRevoked:
        found = [
            e
            for e in self._ledger.consents.events(block, block)
            if isinstance(e, ConsentRevoked) and e.study == study and e.patient == patient
        ]
        if not found:
            raise ChainError(f"no ConsentRevoked event in block {block} for {patient}")
        return found[-1]
