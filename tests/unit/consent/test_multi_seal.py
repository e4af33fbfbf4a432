"""Multi-recipient sealing: each recipient opens the same payload; nobody else; no tampering."""

from __future__ import annotations

import hashlib
import os

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from consent.multi_seal import MAGIC, NotARecipientError, open_multi, seal_multi
from consent.sealing import (
    MalformedEnvelopeError,
    SealingError,
    TamperedEnvelopeError,
    generate_keypair,
    seal,
)


def test_every_recipient_opens_the_same_payload() -> None:
    pairs = [generate_keypair() for _ in range(3)]
    payload = os.urandom(1000)
    sealed = seal_multi(payload, [bytes(p.public_key) for p in pairs])
    assert sealed.startswith(MAGIC)
    assert [open_multi(sealed, p.private_key) for p in pairs] == [payload] * 3


def test_a_key_that_is_not_a_recipient_is_refused_by_name() -> None:
    sealed = seal_multi(b"update", [bytes(generate_keypair().public_key)])
    with pytest.raises(NotARecipientError):
        open_multi(sealed, generate_keypair().private_key)


@pytest.mark.parametrize("where", [0.1, 0.5, 0.99])
def test_any_flipped_byte_fails_authentication(where: float) -> None:
    pair = generate_keypair()
    sealed = bytearray(seal_multi(os.urandom(200), [bytes(pair.public_key)]))
    position = max(6, int(len(sealed) * where))
    sealed[position] ^= 0x01
    with pytest.raises((TamperedEnvelopeError, MalformedEnvelopeError)):
        open_multi(bytes(sealed), pair.private_key)


def test_recipient_list_must_be_nonempty_and_distinct() -> None:
    key = bytes(generate_keypair().public_key)
    with pytest.raises(SealingError):
        seal_multi(b"x", [])
    with pytest.raises(SealingError):
        seal_multi(b"x", [key, key])


def test_a_sender_cannot_give_the_auditor_another_content_key() -> None:
    """The lie the key commitment catches: a hospital seals content key K to the aggregator and
    K' to the auditor (AES-GCM is not key-committing, so with a crafted ciphertext each could
    open a different payload). The envelope commits to one key, so the auditor's slot is
    refused by name instead of opening to anything."""
    aggregator, auditor = generate_keypair(), generate_keypair()
    real, other = AESGCM.generate_key(bit_length=256), AESGCM.generate_key(bit_length=256)
    slots = bytes(aggregator.public_key) + seal(real, bytes(aggregator.public_key))
    slots += bytes(auditor.public_key) + seal(other, bytes(auditor.public_key))
    nonce = os.urandom(12)
    commitment = hashlib.sha256(b"consentfl/content-key/v1" + real).digest()
    header = MAGIC + bytes((1, 2)) + slots + commitment + nonce
    forged = header + AESGCM(real).encrypt(nonce, b"the real update", header)

    assert open_multi(forged, aggregator.private_key) == b"the real update"
    with pytest.raises(TamperedEnvelopeError, match="commitment"):
        open_multi(forged, auditor.private_key)
