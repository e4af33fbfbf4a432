"""`EventCodec`: one contract event's log decoded with `eth_abi` directly, as web3 decodes it.

Hand-written glue like `chain.abi_codec`, for the same reason: web3's `process_log` re-derives
the event's types from its ABI on every log (`get_event_data`: input normalization, name
checks, `map_abi_data` with its `recursive_map` normalizers, `named_tree`), a few hundred
microseconds a log. The types of an event do not change under a deployment, so they are
derived once and a log is one `eth_abi.decode` of its data and one per indexed topic.

The answer is shaped as web3's `EventData` (`args`, `event`, `logIndex`, `transactionIndex`,
`transactionHash`, `address`, `blockHash`, `blockNumber`, taken from the log as given), with
the args normalized as web3 normalizes them: addresses checksummed, arrays as lists, structs
as dicts by field name, indexed dynamic values as their 32-byte topic (a hash). A parity test
decodes every event of every contract both ways (tests/unit/chain/test_event_parity.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, cast

from eth_abi.abi import decode as abi_decode
from eth_abi.grammar import parse
from eth_utils.abi import collapse_if_tuple, event_abi_to_log_topic
from web3.exceptions import LogTopicError
from web3.types import EventData, LogReceipt

from chain.event_words import Word, WordLayout, read_topic, word_reader
from consent.ids import parse_address

__all__ = ["EventCodec"]

_ARRAY: Final = re.compile(r"^(.*)\[\d*\]$")


def _normalized(param: Mapping[str, Any], value: Any) -> Any:
    kind = str(param["type"])
    array = _ARRAY.match(kind)
    if array is not None:
        inner = dict(param, type=array.group(1))
        return [_normalized(inner, item) for item in value]
    if kind == "tuple":
        parts = param["components"]
        return {str(p["name"]): _normalized(p, v) for p, v in zip(parts, value, strict=True)}
    return parse_address(value) if kind == "address" else value


def _topic_type(param: Mapping[str, Any]) -> str:
    # an indexed dynamic value (string, bytes, array, struct) is logged as its keccak hash
    kind = collapse_if_tuple(dict(param))
    return "bytes32" if parse(kind).is_dynamic else kind


def _topic_value(kind: str, word: Word | None, topic: bytes) -> Any:
    """One indexed value: read from its word when canonical, else as eth_abi decodes it."""
    read = None if word is None else read_topic(word, topic)
    if read is not None:
        return read[0]
    (value,) = abi_decode([kind], topic)
    return parse_address(value) if kind == "address" else value


@dataclass(frozen=True, slots=True)
class EventCodec:
    """The topic and the indexed / data parameter types of one event, derived once."""

    name: str
    topic: bytes
    indexed: tuple[Mapping[str, Any], ...]
    indexed_types: tuple[str, ...]
    data: tuple[Mapping[str, Any], ...]
    data_types: tuple[str, ...]
    topic_words: tuple[Word | None, ...] = field(default=(), compare=False)
    layout: WordLayout | None = field(default=None, compare=False)

    @classmethod
    def of(cls, entry: Mapping[str, Any]) -> EventCodec:
        """The codec of the ABI event `entry` (not anonymous)."""
        inputs = tuple(entry["inputs"])
        indexed = tuple(p for p in inputs if p.get("indexed"))
        data = tuple(p for p in inputs if not p.get("indexed"))
        return cls(
            name=str(entry["name"]),
            topic=event_abi_to_log_topic(dict(entry)),  # type: ignore[arg-type]
            indexed=indexed,
            indexed_types=tuple(_topic_type(p) for p in indexed),
            data=data,
            data_types=tuple(collapse_if_tuple(dict(p)) for p in data),
            topic_words=tuple(word_reader(_topic_type(p)) for p in indexed),
            layout=WordLayout.of(data),
        )

    def args(self, log: LogReceipt) -> dict[str, Any]:
        """The event's arguments in `log`, by name (indexed first, as web3 orders them).

        Raises web3's `LogTopicError` when the log has another number of topics, eth_abi's
        `DecodingError` when its data does not decode (another event of the same signature).
        """
        topics = log["topics"][1:]
        if len(topics) != len(self.indexed):
            raise LogTopicError(f"Expected {len(self.indexed)} log topics.  Got {len(topics)}")
        args: dict[str, Any] = {}
        for param, kind, word, topic in zip(
            self.indexed, self.indexed_types, self.topic_words, topics, strict=True
        ):
            args[str(param["name"])] = _topic_value(kind, word, bytes(topic))
        data = bytes(log["data"])
        fast = None if self.layout is None else self.layout.values(data)
        if fast is not None:  # the canonical layout, read word by word (chain.event_words)
            for param, value in zip(self.data, fast, strict=True):
                args[str(param["name"])] = value
            return args
        values = abi_decode(self.data_types, data)
        for param, value in zip(self.data, values, strict=True):
            args[str(param["name"])] = _normalized(param, value)
        return args

    def decode(self, log: LogReceipt) -> EventData:
        """`log` decoded, shaped as web3's `process_log` answers for a plain-dict log."""
        return cast(
            EventData,
            {
                "args": self.args(log),
                "event": self.name,
                "logIndex": log["logIndex"],
                "transactionIndex": log["transactionIndex"],
                "transactionHash": log["transactionHash"],
                "address": log["address"],
                "blockHash": log["blockHash"],
                "blockNumber": log["blockNumber"],
            },
        )
