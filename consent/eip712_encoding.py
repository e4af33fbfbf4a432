"""The ABI words and EIP-55 checksums of `consent.eip712`'s hot path, by hand, eth_abi as fallback.

Every relayed revocation hashes one flat EIP-712 struct and checksums the address it recovers.
eth_abi's generic `encode` (type parsing, encoder lookup, validators) and eth_utils'
`to_checksum_address` (validation, formatting) were ~0.6 and ~0.4 ms of Python per request
(session 8, `bench/bench_api.py`), for what is, for these types, 32-byte words concatenated and
one keccak. `encode_words` writes the words itself only for values eth_abi would encode without
complaint (bytes32 of 32 bytes, an address of 20 bytes, an unsigned integer in range) and hands
anything else to eth_abi, so the bytes, and every error, are eth_abi's; `checksum_address` is
EIP-55 over the 20 bytes (`consent.ids`' by-hand EIP-55).
`tests/unit/consent/test_eip712_encoding.py` checks both against the libraries.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from eth_abi.abi import encode

from consent.ids import Address, address_from_bytes

__all__ = ["checksum_address", "encode_words"]

_UINT_BITS: Final = {f"uint{bits}": bits for bits in range(8, 257, 8)}
_PAD: Final = bytes(12)


def _word(kind: str, value: Any) -> bytes | None:
    """`value`'s 32-byte word, or None when eth_abi should decide (another type, a bad value)."""
    if kind == "bytes32":
        return value if type(value) is bytes and len(value) == 32 else None
    if kind == "address":
        return _PAD + value if type(value) is bytes and len(value) == 20 else None
    bits = _UINT_BITS.get(kind)
    if bits is None or type(value) is not int or not 0 <= value < 1 << bits:
        return None
    return value.to_bytes(32, "big")


def encode_words(types: Sequence[str], values: Sequence[Any]) -> bytes:
    """`eth_abi.encode(types, values)` for static atomic types (see the module docstring)."""
    if len(types) == len(values):
        words = [_word(kind, value) for kind, value in zip(types, values, strict=True)]
        if None not in words:
            return b"".join(w for w in words if w is not None)
    return encode(list(types), list(values))


def checksum_address(raw: bytes) -> Address:
    """The EIP-55 checksummed `0x` form of a 20-byte address (`consent.ids.address_from_bytes`)."""
    return address_from_bytes(raw)
