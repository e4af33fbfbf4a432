"""`consent.eip712_encoding`: the hand-written words and checksums are eth_abi's and eth_utils'."""

from __future__ import annotations

import os
from typing import Any

import pytest
from eth_abi.abi import encode
from eth_abi.exceptions import EncodingError
from eth_utils.address import to_checksum_address

from consent.eip712 import CONSENT_TYPE, PURPOSE_REVOCATION_TYPE, REVOCATION_TYPE
from consent.eip712_encoding import checksum_address, encode_words
from consent.ids import InvalidIdentifierError, parse_address

_TYPES = [[t for _, t in spec] for spec in (CONSENT_TYPE, REVOCATION_TYPE, PURPOSE_REVOCATION_TYPE)]


def _value(kind: str, seed: int) -> Any:
    if kind == "bytes32":
        return os.urandom(32)
    if kind == "address":
        return os.urandom(20)
    bits = int(kind.removeprefix("uint"))
    return (0, 1, 2**bits - 1, seed % 2**bits, int.from_bytes(os.urandom(32)) % 2**bits)[seed % 5]


@pytest.mark.parametrize("types", _TYPES)
def test_the_words_of_every_struct_are_eth_abis(types: list[str]) -> None:
    for seed in range(50):
        values = [_value(kind, seed) for kind in types]
        assert encode_words(types, values) == encode(types, values)


@pytest.mark.parametrize(
    ("types", "values"),
    [
        (["uint64"], [2**64]),  # out of range
        (["uint256"], [-1]),
        (["uint256"], [True]),  # a bool is no integer to eth_abi
        (["bytes32"], [b"\x01" * 33]),  # long
        (["address"], [b"\x01" * 19]),
    ],
)
def test_a_value_eth_abi_refuses_is_refused_as_eth_abi_refuses_it(
    types: list[str], values: list[Any]
) -> None:
    with pytest.raises(EncodingError) as expected:
        encode(types, values)
    with pytest.raises(type(expected.value)):
        encode_words(types, values)


def test_other_types_short_bytes_and_address_strings_go_through_eth_abi() -> None:
    assert encode_words(["bytes32"], [b"\x01" * 31]) == encode(["bytes32"], [b"\x01" * 31])
    address = to_checksum_address(os.urandom(20))
    assert encode_words(["address", "string"], [address, "x"]) == encode(
        ["address", "string"], [address, "x"]
    )


def test_checksums_are_eip55_as_eth_utils_writes_them() -> None:
    for raw in [bytes(20), b"\xff" * 20, *(os.urandom(20) for _ in range(200))]:
        assert checksum_address(raw) == to_checksum_address(raw)
    with pytest.raises(ValueError, match="20 bytes"):
        checksum_address(b"\x01" * 21)


def test_parsed_addresses_are_eth_utils_checksums_whatever_their_case() -> None:
    for raw in [bytes(20), b"\xff" * 20, *(os.urandom(20) for _ in range(200))]:
        expected = to_checksum_address(raw)
        for written in (expected, expected.lower(), "0x" + expected[2:].upper()):
            assert parse_address(written) == expected
    for bad in ("0x" + "0" * 39, "0x" + "g" * 40, "00" * 21, 42):
        with pytest.raises(InvalidIdentifierError):
            parse_address(bad)  # type: ignore[arg-type]
