"""A receipt signer holding one private key: EIP-191 `personal_sign` through coincurve.

`eth_account`'s `LocalAccount.sign_message` re-derives the key object and walks eth-keys'
validators on every call (~2-3 ms of Python per relayed revocation's receipt in
`bench/bench_api.py`). `ReceiptSigner` builds the libsecp256k1 key once and signs the same
digest, `keccak(0x19 || version || header || body)`, with the same RFC 6979 nonce and low `s`,
so its signatures are byte-for-byte eth_account's (the unit test checks that against it).
Hand-written over coincurve (what eth-keys itself uses) because neither library offers a cached
key for EIP-191 messages. The key is never logged nor shown in `repr`.
"""

from __future__ import annotations

from coincurve import PrivateKey
from eth_account.messages import SignableMessage
from eth_utils.address import to_checksum_address

from consent.ids import Address
from consent.keccak import keccak256 as keccak

__all__ = ["ReceiptSigner"]


class ReceiptSigner:
    """Signs EIP-191 messages (consent receipts) with one private key, kept as a coincurve key."""

    __slots__ = ("_key", "address")

    def __init__(self, private_key: bytes) -> None:
        if len(private_key) != 32:
            raise ValueError(f"a private key is 32 bytes, got {len(private_key)}")
        self._key = PrivateKey(bytes(private_key))
        public = self._key.public_key.format(compressed=False)[1:]
        self.address = Address(to_checksum_address(keccak(public)[12:]))
        """The account the key signs for."""

    def __repr__(self) -> str:
        return f"ReceiptSigner({self.address})"

    def __call__(self, message: SignableMessage) -> bytes:
        """The 65-byte signature r || s || v (v = 27 + recovery id) of `message`."""
        digest = keccak(b"\x19" + message.version + message.header + message.body)
        signed = self._key.sign_recoverable(digest, hasher=None)
        return signed[:64] + bytes([27 + signed[64]])
