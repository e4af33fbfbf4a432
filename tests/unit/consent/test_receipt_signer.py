"""`ReceiptSigner`: the cached coincurve key signs exactly what eth_account signs (the oracle)."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from consent.eip712 import consent_registry_domain
from consent.events import ConsentRevoked, EventPosition
from consent.ids import Address, StudyId
from consent.receipt_signer import ReceiptSigner
from consent.receipts import ReceiptTamperedError, build_receipt, verify_receipt

KEY = b"\x11" * 32
ACCOUNT = Account.from_key(KEY)
DOMAIN = consent_registry_domain(31337, Address("0x5FbDB2315678afecb367f032d93F642f64180aa3"))


@pytest.mark.parametrize(
    "body", [b"", b"x", b'{"a":1}', "é receipt ünïcode".encode(), bytes(range(256)) * 9]
)
def test_signatures_are_eth_accounts_byte_for_byte(body: bytes) -> None:
    message = encode_defunct(primitive=body)
    assert ReceiptSigner(KEY)(message) == bytes(ACCOUNT.sign_message(message).signature)


def test_many_keys_agree_with_eth_account_and_recover_to_their_address() -> None:
    message = encode_defunct(text="consent receipt")
    for _ in range(20):
        account = Account.create()
        signer = ReceiptSigner(bytes(account.key))
        assert signer.address == account.address
        signature = signer(message)
        assert signature == bytes(account.sign_message(message).signature)
        assert Account.recover_message(message, signature=signature) == account.address


def test_a_receipt_it_signs_verifies_and_a_changed_field_does_not() -> None:
    patient = Address(Account.from_key(b"\x33" * 32).address)
    hospital = Address(Account.from_key(b"\x44" * 32).address)
    event = ConsentRevoked(
        StudyId(b"\x05" * 32), patient, hospital, EventPosition(42, 1), "0x" + "ab" * 32, 1
    )
    signer = ReceiptSigner(KEY)
    receipt = build_receipt(event, DOMAIN, issuer=signer.address, sign=signer, issued_at=2)
    assert verify_receipt(receipt, expected_signer=ACCOUNT.address).issuer == ACCOUNT.address
    receipt["event"]["blockNumber"] = 43
    with pytest.raises(ReceiptTamperedError):
        verify_receipt(receipt)


def test_a_key_of_the_wrong_length_is_refused_and_never_shown() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        ReceiptSigner(b"\x11" * 31)
    assert KEY.hex() not in repr(ReceiptSigner(KEY))
    assert ACCOUNT.address in repr(ReceiptSigner(KEY))
