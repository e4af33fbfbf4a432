"""Revert decoding: both backends' revert shapes become the same typed exception."""

from __future__ import annotations

from eth_abi.abi import encode
from eth_tester.exceptions import TransactionFailed
from web3.exceptions import ContractCustomError

from chain._facade import revert_decoder
from chain.errors import InvalidShortStringError, StringTooLongError, TransactionRevertedError
from chain.revert_decoder import raw_revert_data
from chain.round_ledger_errors import InvalidPatientCountError, StaleConsentError

ADDRESS = "0x" + "12" * 20


def _data(cls: type, types: list[str], values: list[object]) -> bytes:
    return cls.selector() + encode(types, values)  # type: ignore[attr-defined,no-any-return]


def test_anvil_and_eth_tester_reverts_carry_the_same_bytes() -> None:
    data = _data(StaleConsentError, ["uint64", "uint256"], [3, 9])
    anvil = ContractCustomError("0x" + data.hex(), data="0x" + data.hex())
    tester = TransactionFailed(f"execution reverted: {data!r}")
    assert raw_revert_data(anvil) == raw_revert_data(tester) == data


def test_stale_consent_decodes_with_named_fields() -> None:
    error = revert_decoder().decode(_data(StaleConsentError, ["uint64", "uint256"], [3, 9]))
    assert isinstance(error, StaleConsentError)
    assert (error.consent_block, error.last_revocation_block) == (3, 9)
    assert error.arguments == {"consent_block": 3, "last_revocation_block": 9}
    assert str(error) == "StaleConsent(consent_block=3, last_revocation_block=9)"


def test_openzeppelin_errors_unreachable_from_our_calls_still_decode() -> None:
    decoder = revert_decoder()
    count = decoder.decode(_data(InvalidPatientCountError, ["uint32", "uint256"], [7, 4]))
    assert isinstance(count, InvalidPatientCountError)
    assert count.arguments == {"num_patients": 7, "active_consents": 4}
    assert isinstance(decoder.decode(InvalidShortStringError.selector()), InvalidShortStringError)
    too_long = decoder.decode(_data(StringTooLongError, ["string"], ["x" * 40]))
    assert isinstance(too_long, StringTooLongError)
    assert too_long.arguments["str"] == "x" * 40


def test_unknown_or_truncated_revert_data_becomes_transaction_reverted() -> None:
    decoder = revert_decoder()
    assert isinstance(decoder.decode(b"\xde\xad\xbe\xef"), TransactionRevertedError)
    truncated = StaleConsentError.selector() + b"\x00" * 5
    assert isinstance(decoder.decode(truncated), TransactionRevertedError)
    assert raw_revert_data(TransactionFailed("out of gas")) is None
