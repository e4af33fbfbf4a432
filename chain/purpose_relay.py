"""Relay a patient's signed withdrawal of some purposes (`PurposeRevocation`), checked first.

Like `chain.relay.RevocationRelay.revoke`, every check the contract would make runs before a
transaction is sent (study, enrolment, active consent, the purposes being granted, deadline, and
the EIP-712 signature over the current revocation nonce), so a bad request costs no gas. It
shares the revocation relay's lock: one sender key, one writer. In a worker process of
`consentfl api --workers N` (a `chain.relay_client.ForwardingRelay`) the whole withdrawal is
forwarded to the batcher process, which runs it here with its own relay.
"""

from __future__ import annotations

import logging

from chain.errors import ChainUnavailableError, InvalidSignerError, UnknownStudyError
from chain.purpose_errors import ConsentNotActiveError, PurposesNotGrantedError
from chain.relay import (
    DeadlineExpiredError,
    PatientNotEnrolledError,
    RevocationRelay,
    RevocationSignatureError,
)
from chain.relay_client import ForwardingRelay
from consent.eip712 import InvalidSignatureError, recover_purpose_revocation_signer
from consent.events import ConsentRevoked, PurposesRevoked
from consent.ids import Address, StudyId
from consent.purposes import ConsentScope

__all__ = ["ConsentNotActiveError", "PurposesNotGrantedError", "relay_purpose_revocation"]

logger = logging.getLogger(__name__)


def relay_purpose_revocation(
    relay: RevocationRelay,
    study: StudyId,
    patient: Address,
    purposes: ConsentScope,
    *,
    deadline: int,
    signature: bytes,
) -> PurposesRevoked | ConsentRevoked:
    """Withdraw `purposes` (their DUO codes; NMDS is not withdrawable) from `patient`'s consent.

    Returns the `PurposesRevoked` event, or `ConsentRevoked` when no purpose remains. Raises
    `UnknownStudyError`, `PatientNotEnrolledError`, `ConsentNotActiveError`,
    `PurposesNotGrantedError`, `DeadlineExpiredError`, `RevocationSignatureError`, and
    `ChainUnavailableError` when the node is down (nothing changed).
    """
    mask = purposes.mask
    if isinstance(relay, ForwardingRelay):  # a worker process: the batcher process sends
        return relay.revoke_purposes(study, patient, mask, deadline=deadline, signature=signature)
    ledger = relay.ledger
    consents = ledger.consents
    with relay.lock:
        if not ledger.studies.study_exists(study):
            raise UnknownStudyError({"study_id": bytes(study)})
        record = consents.record(study, patient)
        if not record.exists:
            raise PatientNotEnrolledError(study, patient)
        if record.revoked_block:
            raise ConsentNotActiveError(patient)
        granted = ConsentScope.from_mask(record.purposes)
        if purposes.nmds or not purposes.purposes <= granted.purposes:
            raise PurposesNotGrantedError(mask, granted)
        now = ledger.chain.block_timestamp()
        if deadline <= now:
            raise DeadlineExpiredError(deadline, now)
        nonce = consents.revocation_nonce(study, patient)
        try:
            signer = recover_purpose_revocation_signer(
                consents.domain, study, patient, mask, nonce, deadline, signature
            )
        except (InvalidSignatureError, ValueError) as exc:
            raise RevocationSignatureError(patient, str(exc)) from exc
        if signer != patient:
            raise RevocationSignatureError(patient, "it does not recover to the patient")
        try:
            event = consents.revoke_purposes_with_sig(study, patient, mask, deadline, signature)
        except InvalidSignerError as exc:
            raise RevocationSignatureError(patient, "the contract rejected it") from exc
        except ChainUnavailableError:
            raise
    logger.info("relayed a purpose revocation in block %d", event.position.block_number)
    return event
