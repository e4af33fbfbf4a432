import hashlib

import cid as py_cid
import multihash
import pytest

from chain.store.cid import DAG_PB, RAW, ContentId, cid_text, parse_cid
from chain.store.errors import InvalidCidError

HELLO = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"


def test_parse_base32_raw_cid_gives_codec_and_sha256_digest() -> None:
    parsed = parse_cid(HELLO)

    assert parsed.codec == RAW
    assert parsed.digest == hashlib.sha256(b"hello world\n").digest()
    assert str(parsed) == HELLO


def test_parse_base58_cidv1_normalizes_to_base32() -> None:
    base58 = py_cid.from_string(HELLO).encode("base58btc").decode()

    assert base58.startswith("z")
    assert str(parse_cid(base58)) == HELLO


def test_parse_cidv0_is_dag_pb_with_same_digest() -> None:
    digest = hashlib.sha256(b"node").digest()
    v0 = py_cid.make_cid(0, "dag-pb", multihash.encode(digest, "sha2-256")).encode().decode()

    parsed = parse_cid(v0)

    assert v0.startswith("Qm")
    assert parsed == ContentId(DAG_PB, digest)
    assert str(parsed).startswith("bafybei")


@pytest.mark.parametrize("codec", [RAW, DAG_PB])
def test_cid_text_matches_py_cid_base32_encoding(codec: int) -> None:
    for seed in range(20):
        content = ContentId(codec, hashlib.sha256(bytes([seed])).digest())
        expected = py_cid.from_bytes(content.binary).encode("base32").decode()

        assert cid_text(content.binary) == expected


def test_binary_round_trip_for_v1_and_v0_forms() -> None:
    content = ContentId(DAG_PB, hashlib.sha256(b"x").digest())

    assert ContentId.from_binary(content.binary) == content
    assert ContentId.from_binary(content.multihash) == content


@pytest.mark.parametrize(
    "text", ["", "   ", "hello", "bafy", "b" + "a" * 60, "Qm123", "zzzz", HELLO[:-3]]
)
def test_parse_malformed_text_raises_invalid_cid(text: str) -> None:
    with pytest.raises(InvalidCidError):
        parse_cid(text)


def test_parse_non_sha256_multihash_raises_invalid_cid() -> None:
    blake = multihash.encode(hashlib.blake2b(b"x", digest_size=32).digest(), "blake2b-256")
    text = py_cid.make_cid(1, "raw", blake).encode("base32").decode()

    with pytest.raises(InvalidCidError, match="SHA-256"):
        parse_cid(text)


def test_parse_unsupported_codec_raises_invalid_cid() -> None:
    mh = multihash.encode(hashlib.sha256(b"x").digest(), "sha2-256")
    text = py_cid.make_cid(1, "dag-cbor", mh).encode("base32").decode()

    with pytest.raises(InvalidCidError, match="codec"):
        parse_cid(text)


def test_invalid_cid_error_is_a_value_error_with_fields() -> None:
    with pytest.raises(ValueError, match="not a usable CID") as info:
        parse_cid("nope")

    assert isinstance(info.value, InvalidCidError)
    assert info.value.value == "nope"


def test_from_binary_with_unknown_prefix_raises_invalid_cid() -> None:
    with pytest.raises(InvalidCidError):
        ContentId.from_binary(b"\x01\x71\x12\x20" + bytes(32))


@pytest.mark.parametrize("codec", [RAW, DAG_PB])
def test_the_fast_path_for_own_cids_parses_as_py_cid_does(codec: int) -> None:
    digest = hashlib.sha256(b"fast path").digest()
    text = str(ContentId(codec, digest))
    parsed = parse_cid(text)
    reference = py_cid.from_string(text)
    assert parsed == ContentId(codec, digest)
    assert bytes(reference.multihash)[2:] == parsed.digest
    assert {"raw": RAW, "dag-pb": DAG_PB}[reference.codec] == parsed.codec
    # the same CID in upper-case base32 is not this store's text: py-cid parses it, same CID
    assert parse_cid("B" + text[1:].upper()) == parsed
