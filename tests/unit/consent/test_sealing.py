import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consent.errors import ConsentError
from consent.sealing import (
    ENVELOPE_OVERHEAD,
    InvalidSealingKeyError,
    MalformedEnvelopeError,
    TamperedEnvelopeError,
    generate_keypair,
    load_private_key,
    load_public_key,
    open_sealed,
    private_key_bytes,
    public_key_bytes,
    seal,
)

KEYS = generate_keypair()


@settings(max_examples=25, deadline=None)
@given(st.binary(max_size=4096))
def test_sealed_payload_opens_to_the_same_bytes(data: bytes) -> None:
    sealed = seal(data, KEYS.public_key)

    assert len(sealed) == len(data) + ENVELOPE_OVERHEAD
    assert open_sealed(sealed, KEYS.private_key) == data


def test_sealing_twice_gives_different_envelopes() -> None:
    assert seal(b"update", KEYS.public_key) != seal(b"update", KEYS.public_key)


def test_payload_does_not_appear_in_the_envelope() -> None:
    secret = b"patient-weights-" * 8

    assert secret[:16] not in seal(secret, KEYS.public_key)


def test_seal_accepts_a_public_key_object() -> None:
    sealed = seal(b"x", load_public_key(KEYS.public_key))

    assert open_sealed(sealed, KEYS.private_key) == b"x"


@pytest.mark.parametrize("position", [0, 4, 5, 20, 37, 45, 49, 60, -1])
def test_any_flipped_byte_is_detected(position: int) -> None:
    sealed = bytearray(seal(b"a model update of some length", KEYS.public_key))
    sealed[position] ^= 0x01

    with pytest.raises((TamperedEnvelopeError, MalformedEnvelopeError)):
        open_sealed(bytes(sealed), KEYS.private_key)


def test_body_tampering_raises_tampered_error_rooted_in_consent_error() -> None:
    sealed = bytearray(seal(b"payload", KEYS.public_key))
    sealed[-3] ^= 0x80

    with pytest.raises(TamperedEnvelopeError) as info:
        open_sealed(bytes(sealed), KEYS.private_key)

    assert isinstance(info.value, ConsentError)
    assert isinstance(info.value, ValueError)


def test_truncated_envelope_raises_tampered_or_malformed() -> None:
    sealed = seal(b"payload", KEYS.public_key)

    with pytest.raises(TamperedEnvelopeError):
        open_sealed(sealed[:-1], KEYS.private_key)
    with pytest.raises(MalformedEnvelopeError):
        open_sealed(sealed[: ENVELOPE_OVERHEAD - 1], KEYS.private_key)


def test_wrong_private_key_cannot_open() -> None:
    sealed = seal(b"payload", KEYS.public_key)

    with pytest.raises(TamperedEnvelopeError):
        open_sealed(sealed, generate_keypair().private_key)


def test_unknown_version_raises_malformed_with_version() -> None:
    sealed = bytearray(seal(b"payload", KEYS.public_key))
    sealed[4] = 2

    with pytest.raises(MalformedEnvelopeError) as info:
        open_sealed(bytes(sealed), KEYS.private_key)

    assert info.value.version == 2


def test_swapped_ephemeral_key_is_detected() -> None:
    first = seal(b"payload one", KEYS.public_key)
    second = seal(b"payload one", KEYS.public_key)
    mixed = first[:5] + second[5:37] + first[37:]

    with pytest.raises(TamperedEnvelopeError):
        open_sealed(mixed, KEYS.private_key)


def test_low_order_public_key_is_refused() -> None:
    with pytest.raises(InvalidSealingKeyError):
        seal(b"x", bytes(32))


@pytest.mark.parametrize("size", [0, 31, 33])
def test_public_key_of_wrong_length_is_refused(size: int) -> None:
    with pytest.raises(InvalidSealingKeyError):
        seal(b"x", bytes(size))


def test_private_key_raw_round_trip_keeps_public_key() -> None:
    restored = load_private_key(private_key_bytes(KEYS.private_key))

    assert public_key_bytes(restored) == KEYS.public_key
    assert len(KEYS.public_key) == 32
    with pytest.raises(InvalidSealingKeyError):
        load_private_key(b"short")
