"""`FunctionCodec`: one contract function's calldata and result, encoded with `eth_abi` directly.

Hand-written glue, on purpose: web3's generic `ContractFunction.call` / `build_transaction` path
re-derives everything per call (argument binding through `inspect`, `map_abi_data` with its
`recursive_map` formatters, toolz argument validation, ABI look-ups by name, address
checksumming of the inputs): ~8 ms of Python per view call on a local node, against ~1 ms for
the node's own work. The ABI of a function does not change under a deployment, so its selector
and types are derived once (`codec`, cached per contract and function) and every call is one
`eth_abi.encode` and one `eth_abi.decode`.

Results are normalized exactly as web3 returns them (`call_contract_function` with web3's
`BASE_RETURN_NORMALIZERS`): addresses checksummed, structs as Python tuples, arrays as lists,
`bytes` as `bytes`, ints as ints; one output is returned bare, several as a list.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Final

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_utils.abi import collapse_if_tuple, function_abi_to_4byte_selector
from eth_utils.address import to_checksum_address
from hexbytes import HexBytes

from chain.compile import load_artifact

__all__ = ["FunctionCodec", "codec"]

_ARRAY: Final = re.compile(r"^(.*)\[\d*\]$")


def _walk(param: Mapping[str, Any], value: Any, leaf: Any) -> Any:
    """`value` of ABI parameter `param` with `leaf(type, value)` applied to every basic value."""
    kind = str(param["type"])
    array = _ARRAY.match(kind)
    if array is not None:
        inner = dict(param, type=array.group(1))
        return [_walk(inner, item, leaf) for item in value]  # web3 rebuilds arrays as lists
    if kind == "tuple":
        parts = param["components"]
        if isinstance(value, Mapping):  # web3 also takes a struct as a dict by field name
            value = [value[str(part["name"])] for part in parts]
        return tuple(_walk(part, item, leaf) for part, item in zip(parts, value, strict=True))
    return leaf(kind, value)


def _argument(kind: str, value: Any) -> Any:
    # web3 accepts hex strings for `bytes` / `bytesN` arguments; eth_abi wants bytes
    if kind.startswith("bytes") and isinstance(value, str):
        return bytes(HexBytes(value))
    return value


def _result(kind: str, value: Any) -> Any:
    return to_checksum_address(value) if kind == "address" else value


@dataclass(frozen=True, slots=True)
class FunctionCodec:
    """The selector and parameter types of one function, derived once from its ABI entry."""

    name: str
    selector: bytes
    inputs: tuple[Mapping[str, Any], ...]
    outputs: tuple[Mapping[str, Any], ...]
    input_types: tuple[str, ...]
    output_types: tuple[str, ...]

    @classmethod
    def of(cls, entry: Mapping[str, Any]) -> FunctionCodec:
        """The codec of the ABI function `entry`."""
        inputs, outputs = tuple(entry["inputs"]), tuple(entry.get("outputs", ()))
        return cls(
            name=str(entry["name"]),
            selector=function_abi_to_4byte_selector(entry),  # type: ignore[arg-type]
            inputs=inputs,
            outputs=outputs,
            input_types=tuple(collapse_if_tuple(dict(p)) for p in inputs),
            output_types=tuple(collapse_if_tuple(dict(p)) for p in outputs),
        )

    def calldata(self, args: Sequence[Any]) -> bytes:
        """Selector + ABI-encoded `args`; `TypeError` when their number is wrong, eth_abi's
        `EncodingError` when a value does not fit its type."""
        if len(args) != len(self.inputs):
            raise TypeError(f"{self.name} takes {len(self.inputs)} arguments, got {len(args)}")
        values = [_walk(p, v, _argument) for p, v in zip(self.inputs, args, strict=True)]
        return self.selector + abi_encode(self.input_types, values)

    def result(self, data: bytes) -> Any:
        """The decoded return `data`, as web3 would return it; eth_abi's `DecodingError` when
        it does not decode (no code at the address, or another ABI)."""
        values = abi_decode(self.output_types, data)
        normalized = [_walk(p, v, _result) for p, v in zip(self.outputs, values, strict=True)]
        return normalized[0] if len(normalized) == 1 else normalized


@cache
def codec(contract: str, function: str) -> FunctionCodec:
    """The codec of `contract`'s function `function` (the committed artifact's ABI); `KeyError`
    if it has none of that name. The contracts have no overloaded functions."""
    for entry in load_artifact(contract).abi:
        if entry.get("type") == "function" and entry["name"] == function:
            return FunctionCodec.of(entry)
    raise KeyError(f"{contract} has no function {function}")
