"""`api.receipts` signs with the cached `ReceiptSigner` only when it holds the sender's key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from eth_account import Account
from eth_account.messages import SignableMessage

from api.receipts import issue_receipt, receipt_if_signable
from chain.consent_registry import ConsentRegistry
from consent.eip712 import consent_registry_domain
from consent.events import ConsentRevoked, EventPosition
from consent.ids import Address, StudyId
from consent.receipt_signer import ReceiptSigner
from consent.receipts import verify_receipt

RELAYER = Account.from_key(b"\x11" * 32)
OTHER_KEY = b"\x22" * 32
DOMAIN = consent_registry_domain(31337, Address("0x5FbDB2315678afecb367f032d93F642f64180aa3"))
EVENT = ConsentRevoked(
    StudyId(b"\x05" * 32),
    Address(Account.from_key(b"\x33" * 32).address),
    Address(Account.from_key(b"\x44" * 32).address),
    EventPosition(42, 1),
    "0x" + "ab" * 32,
    1_700_000_000,
)


@dataclass
class _FakeSender:
    """The relayer's `Sender` as far as receipts go; counts what it signs itself."""

    address: str = RELAYER.address
    signs_locally: bool = True
    signed: int = 0

    def sign_message(self, message: SignableMessage) -> bytes:
        self.signed += 1
        return bytes(RELAYER.sign_message(message).signature)


@dataclass
class _FakeConsents:
    sender: _FakeSender
    domain: Any = DOMAIN


def _consents(sender: _FakeSender) -> ConsentRegistry:
    return cast(ConsentRegistry, _FakeConsents(sender))


def test_the_relayers_cached_signer_signs_and_the_receipt_verifies_as_the_relayers() -> None:
    sender = _FakeSender()
    receipt = issue_receipt(_consents(sender), EVENT, ReceiptSigner(b"\x11" * 32))
    assert sender.signed == 0  # the cached key signed, not the sender
    assert verify_receipt(receipt, expected_signer=RELAYER.address).issuer == RELAYER.address


def test_a_signer_of_another_key_is_not_used_the_sender_signs() -> None:
    """The lie: a signer for another account would issue receipts that name the relayer as the
    issuer but do not verify as its; it is ignored and the sender signs."""
    sender = _FakeSender()
    receipt = issue_receipt(_consents(sender), EVENT, ReceiptSigner(OTHER_KEY))
    assert sender.signed == 1
    assert verify_receipt(receipt, expected_signer=RELAYER.address).issuer == RELAYER.address


def test_no_receipt_when_the_node_holds_the_key_even_with_a_signer() -> None:
    sender = _FakeSender(signs_locally=False)
    assert receipt_if_signable(_consents(sender), EVENT, ReceiptSigner(b"\x11" * 32)) is None
