"""The lean log decoding (`chain.event_codec`) answers exactly as web3's `process_log` did.

Every event of every contract artifact is logged with random arguments (encoded by eth_abi as
the EVM logs them: indexed values as topics, the rest as data) and decoded both ways; the args
must be equal in value AND in Python type all the way down (lists, dicts by field name,
checksummed addresses, bytes, ints, str), and the log fields copied as web3 copies them.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from eth_utils.abi import collapse_if_tuple
from eth_utils.address import to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import LogTopicError

from chain.compile import load_artifact
from chain.event_codec import EventCodec

CONTRACTS = (
    "ConsentRegistry",
    "Contributions",
    "DatasetInventory",
    "PrivacyBudget",
    "Rollbacks",
    "RoundLedger",
    "SecAggCoordinator",
    "StudyRegistry",
)
_ARRAY = re.compile(r"^(.*)\[(\d*)\]$")


def _events() -> list[tuple[str, dict[str, Any]]]:
    return [
        (contract, entry)
        for contract in CONTRACTS
        for entry in load_artifact(contract).abi
        if entry.get("type") == "event" and not entry.get("anonymous")
    ]


def _value(param: Mapping[str, Any], rng: random.Random) -> Any:
    """A random value of ABI parameter `param`, as eth_abi encodes it."""
    kind = str(param["type"])
    array = _ARRAY.match(kind)
    if array is not None:
        size = int(array.group(2)) if array.group(2) else rng.randrange(4)
        return [_value(dict(param, type=array.group(1)), rng) for _ in range(size)]
    if kind == "tuple":
        return tuple(_value(p, rng) for p in param["components"])
    if kind == "address":
        return to_checksum_address(rng.randbytes(20))
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "string":
        return "".join(rng.choice("abcé😀 ") for _ in range(rng.randrange(40)))
    if kind == "bytes":
        return rng.randbytes(rng.randrange(70))
    if kind.startswith("bytes"):
        return rng.randbytes(int(kind[5:]))
    bits = int(kind.lstrip("uint") or 256)
    if kind.startswith("int"):
        return rng.randrange(-(2 ** (bits - 1)), 2 ** (bits - 1))
    return rng.randrange(2**bits)


def _log(entry: Mapping[str, Any], rng: random.Random) -> dict[str, Any]:
    codec = EventCodec.of(entry)
    topics = [HexBytes(codec.topic)]
    data_values = []
    for param in entry["inputs"]:
        value = _value(param, rng)
        kind = collapse_if_tuple(dict(param))
        if param.get("indexed"):
            topics.append(
                HexBytes(abi_encode([kind], [value]) if kind != "string" else b"\x07" * 32)
            )
        else:
            data_values.append(value)
    return {
        "address": to_checksum_address(rng.randbytes(20)),
        "topics": topics,
        "data": HexBytes(abi_encode(list(codec.data_types), data_values)),
        "logIndex": rng.randrange(100),
        "transactionIndex": rng.randrange(10),
        "transactionHash": HexBytes(rng.randbytes(32)),
        "blockHash": HexBytes(rng.randbytes(32)),
        "blockNumber": rng.randrange(10**6),
        "removed": False,
    }


def _same(lean: Any, web3: Any) -> bool:
    """Equal values of the same types, recursively."""
    if type(lean) is not type(web3):
        return False
    if isinstance(lean, (list, tuple)):
        return len(lean) == len(web3) and all(_same(a, b) for a, b in zip(lean, web3, strict=True))
    if isinstance(lean, dict):
        return lean.keys() == web3.keys() and all(_same(lean[k], web3[k]) for k in lean)
    return bool(lean == web3)


@pytest.mark.parametrize(
    ("contract", "entry"), _events(), ids=lambda e: str(e) if isinstance(e, str) else e["name"]
)
def test_every_event_decodes_as_web3_decodes_it(contract: str, entry: dict[str, Any]) -> None:
    event = Web3().eth.contract(abi=[entry]).events[entry["name"]]()
    codec = EventCodec.of(entry)
    rng = random.Random(f"{contract}.{entry['name']}")
    for _ in range(12):
        log = _log(entry, rng)
        expected = event.process_log(log)
        decoded = codec.decode(log)  # type: ignore[arg-type]
        assert _same(decoded["args"], dict(expected["args"])), entry["name"]
        assert list(decoded["args"]) == list(expected["args"])
        assert {k: v for k, v in decoded.items() if k != "args"} == {
            k: v for k, v in expected.items() if k != "args"
        }


def test_a_log_with_other_topics_is_refused_as_web3_refuses_it() -> None:
    entry = next(e for c, e in _events() if e["name"] == "ConsentRevoked")
    log = _log(entry, random.Random(1))
    log["topics"] = log["topics"][:2]
    with pytest.raises(LogTopicError):
        Web3().eth.contract(abi=[entry]).events["ConsentRevoked"]().process_log(log)  # type: ignore[arg-type]
    with pytest.raises(LogTopicError):
        EventCodec.of(entry).decode(log)  # type: ignore[arg-type]


def test_every_contract_has_events_to_compare() -> None:
    assert {c for c, _ in _events()} == set(CONTRACTS)
    assert len(_events()) >= 30
