"""The word-by-word event reader (`chain.event_words`) answers exactly as eth_abi does.

Every event of every contract artifact is encoded with random values by eth_abi and read both
ways: the word reader's values must equal eth_abi's (normalized as `chain.event_codec` hands them
on) in value and in Python type. Corrupted encodings (a flipped byte, a cut or an extra word, a
dirty padding, a moved offset) must either be refused by the word reader (eth_abi then judges)
or read exactly as eth_abi reads them: the reader never accepts what eth_abi refuses.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any

import pytest
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_abi.exceptions import DecodingError
from eth_utils.abi import collapse_if_tuple
from hexbytes import HexBytes

from chain.event_codec import EventCodec
from chain.event_words import WordLayout, read_topic, word_reader
from tests.unit.chain.test_event_parity import _events, _log, _same, _value

EVENTS = _events()
_IDS = [f"{c}.{e['name']}" for c, e in EVENTS]


def _eth_abi(codec: EventCodec) -> EventCodec:
    """`codec` with the word reader off: every value decoded by eth_abi."""
    return dataclasses.replace(codec, layout=None, topic_words=(None,) * len(codec.indexed))


def _as_eth_abi(codec: EventCodec, log: dict[str, Any]) -> dict[str, Any] | Exception:
    """What eth_abi makes of `log`: its args, or what it raised (a `DecodingError`, or an
    `OverflowError` for a length past any index, a `UnicodeDecodeError`)."""
    try:
        return _eth_abi(codec).args(log)  # type: ignore[arg-type]
    except (DecodingError, OverflowError, UnicodeDecodeError) as exc:
        return exc


def _corrupted(data: bytes, rng: random.Random) -> bytes:
    words = len(data) // 32
    how = rng.randrange(6)
    if how == 0 and data:  # one byte flipped anywhere
        at = rng.randrange(len(data))
        return data[:at] + bytes([data[at] ^ (1 << rng.randrange(8))]) + data[at + 1 :]
    if how == 1 and data:  # cut short
        return data[: rng.randrange(len(data))]
    if how == 2:  # an extra word
        return data + rng.choice((bytes(32), rng.randbytes(32)))
    if how == 3 and words:  # one word's first (padding) byte set
        at = 32 * rng.randrange(words)
        return data[:at] + b"\x01" + data[at + 1 :]
    if how == 4 and words:  # one word's last byte set
        at = 32 * rng.randrange(words) + 31
        return data[:at] + bytes([data[at] | 0x80]) + data[at + 1 :]
    if words:  # one word replaced by a small number (an offset, a length moved)
        at = 32 * rng.randrange(words)
        return data[:at] + (32 * rng.randrange(words + 2)).to_bytes(32, "big") + data[at + 32 :]
    return data + b"\x00"


def test_every_event_of_every_contract_has_a_word_layout() -> None:
    for contract, entry in EVENTS:
        codec = EventCodec.of(entry)
        assert codec.layout is not None, f"{contract}.{entry['name']}"
        assert None not in codec.topic_words, f"{contract}.{entry['name']}"


@pytest.mark.parametrize(("contract", "entry"), EVENTS, ids=_IDS)
def test_random_values_read_as_eth_abi_decodes_them(contract: str, entry: dict[str, Any]) -> None:
    codec = EventCodec.of(entry)
    rng = random.Random(f"words.{contract}.{entry['name']}")
    for _ in range(60):
        log = _log(entry, rng)
        assert codec.layout is not None
        assert codec.layout.values(bytes(log["data"])) is not None  # the canonical layout
        fast = codec.args(log)  # type: ignore[arg-type]
        slow = _as_eth_abi(codec, log)
        assert isinstance(slow, dict)
        assert _same(fast, slow)
        assert list(fast) == list(slow)


@pytest.mark.parametrize(("contract", "entry"), EVENTS, ids=_IDS)
def test_corrupted_data_is_refused_or_read_as_eth_abi_reads_it(
    contract: str, entry: dict[str, Any]
) -> None:
    codec = EventCodec.of(entry)
    assert codec.layout is not None
    rng = random.Random(f"corrupt.{contract}.{entry['name']}")
    for _ in range(150):
        log = _log(entry, rng)
        log["data"] = HexBytes(_corrupted(bytes(log["data"]), rng))
        slow = _as_eth_abi(codec, log)
        if codec.layout.values(bytes(log["data"])) is None:
            continue  # refused: eth_abi alone decides (`args` falls back to it)
        assert isinstance(slow, dict), "the word reader accepted what eth_abi refuses"
        assert _same(codec.args(log), slow)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kind", ["address", "bool", "bytes32", "bytes4", "uint8", "uint64", "uint256", "int8", "int256"]
)
def test_a_topic_word_reads_as_eth_abi_decodes_it(kind: str) -> None:
    word = word_reader(kind)
    assert word is not None
    rng = random.Random(kind)
    codec = EventCodec.of(
        {"type": "event", "name": "E", "inputs": [{"name": "v", "type": kind, "indexed": True}]}
    )
    for i in range(300):
        if i % 2:
            topic = abi_encode([kind], [_value({"type": kind}, rng)])
        else:  # any 32 bytes: mostly not a canonical word of the type, sometimes one
            topic = rng.choice((rng.randbytes(32), bytes(31) + rng.randbytes(1)))
        log = {"topics": [HexBytes(codec.topic), HexBytes(topic)], "data": HexBytes(b"")}
        slow = _as_eth_abi(codec, log)
        fast = read_topic(word, topic)
        if fast is None:
            assert i % 2 == 0, "a canonical topic refused"
            continue
        assert isinstance(slow, dict), "the word reader accepted what eth_abi refuses"
        assert _same(fast[0], slow["v"])
    assert read_topic(word, bytes(31)) is None  # not a word


@pytest.mark.parametrize(
    ("kind", "word"),
    [
        ("address", b"\x01" + bytes(31)),
        ("bool", (2).to_bytes(32, "big")),
        ("uint8", (256).to_bytes(32, "big")),
        ("int8", (128).to_bytes(32, "big")),
        ("bytes4", bytes(4) + b"\x01" + bytes(27)),
    ],
)
def test_a_dirty_word_is_left_to_eth_abi_which_refuses_it(kind: str, word: bytes) -> None:
    layout = WordLayout.of([{"name": "v", "type": kind}])
    assert layout is not None
    assert layout.values(word) is None
    with pytest.raises(DecodingError):
        abi_decode([collapse_if_tuple({"type": kind})], word)


def test_a_string_that_is_not_utf8_or_has_a_dirty_padding_is_left_to_eth_abi() -> None:
    layout = WordLayout.of([{"name": "s", "type": "string"}])
    assert layout is not None
    good = abi_encode(["string"], ["abc"])
    assert layout.values(good) == ["abc"]
    assert layout.values(good[:-1] + b"\x01") is None  # padding byte set
    assert layout.values(good[:64] + b"\xff" + good[65:]) is None  # not UTF-8
    assert layout.values(good + bytes(32)) is None  # data past the last tail
    huge = good[:32] + (2**255).to_bytes(32, "big") + good[64:]
    assert layout.values(huge) is None  # a length past the data


def test_a_type_the_reader_does_not_know_has_no_layout() -> None:
    assert WordLayout.of([{"name": "x", "type": "uint256[2]"}]) is None
    assert WordLayout.of([{"name": "x", "type": "string[]"}]) is None
    assert WordLayout.of([{"name": "x", "type": "fixed128x18"}]) is None
    assert word_reader("uint7") is None
    assert word_reader("bytes33") is None
