"""`RevertDecoder`: revert data of either backend -> the custom error classes of `chain.errors`.

The two backends report a revert differently (anvil through web3's `ContractCustomError` with hex
data, eth-tester through `TransactionFailed` with the raw bytes in its message); `raw_revert_data`
extracts the bytes from both, and the decoder, keyed by error selector and built from the
contracts' ABIs, turns them into the same `ContractRevertError` subclass with the error's
arguments by their Solidity names (snake_cased).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_utils.abi import function_signature_to_4byte_selector
from eth_utils.address import to_checksum_address

from chain.errors import (
    ChainError,
    CompilationError,
    ContractRevertError,
    TransactionRevertedError,
    custom_error_classes,
)

__all__ = ["RevertDecoder", "raw_revert_data"]


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _normalize(abi_type: str, value: Any) -> Any:
    return to_checksum_address(value) if abi_type == "address" else value


class RevertDecoder:
    """Decodes revert data into the custom error classes, using the argument names of the ABIs."""

    def __init__(self, abis: Iterable[Iterable[Mapping[str, Any]]]) -> None:
        classes = custom_error_classes()
        self._errors: dict[bytes, tuple[type[ContractRevertError], list[str], list[str]]] = {}
        for abi in abis:
            for entry in abi:
                if entry.get("type") != "error":
                    continue
                types = [str(i["type"]) for i in entry["inputs"]]
                selector = function_signature_to_4byte_selector(
                    f"{entry['name']}({','.join(types)})"
                )
                cls = classes.get(selector)
                if cls is None:
                    raise CompilationError(f"no Python class for ABI error {entry['name']}")
                names = [_snake(str(i["name"])) or f"arg{n}" for n, i in enumerate(entry["inputs"])]
                self._errors[selector] = (cls, names, types)

    def decode(self, data: bytes, *, tx_hash: str | None = None) -> ChainError:
        """The exception for revert `data` (a custom error, or a generic revert)."""
        known = self._errors.get(data[:4])
        if known is None:
            return TransactionRevertedError(
                f"reverted without a known custom error (data 0x{data.hex()})",
                tx_hash=tx_hash,
                data=data,
            )
        cls, names, types = known
        try:
            values = abi_decode(types, data[4:])
        except DecodingError as exc:
            return TransactionRevertedError(
                f"malformed {cls.error_name()} revert data: {exc}", tx_hash=tx_hash, data=data
            )
        arguments = {n: _normalize(t, v) for n, t, v in zip(names, types, values, strict=True)}
        return cls(arguments, tx_hash=tx_hash)


_TESTER_REVERT: Final = re.compile(r"execution reverted: (b['\"].*['\"])$", re.DOTALL)


def raw_revert_data(exc: BaseException) -> bytes | None:
    """The raw revert bytes carried by a web3 or eth-tester revert exception, if any."""
    data = getattr(exc, "data", None)
    if isinstance(data, str) and data.startswith("0x"):
        return bytes.fromhex(data[2:])
    if isinstance(data, bytes):
        return data
    message = str(exc.args[0]) if exc.args else ""
    match = _TESTER_REVERT.match(message)
    if match is not None:
        try:
            literal = ast.literal_eval(match.group(1))
        except (ValueError, SyntaxError):
            return None
        return literal if isinstance(literal, bytes) else None
    return None
