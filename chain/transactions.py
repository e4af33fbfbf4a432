"""Send transactions and make calls, turning every revert into a typed chain exception.

Transactions carry an explicit gas limit (eth-tester is ~3x faster than when every transaction
estimates gas). With an explicit limit a failing transaction is mined with status 0 and no revert
data, so the sender replays it as a call on the same state to recover the custom error.
On a JSON-RPC node the facades' `ContractCall`s are sent, signed and settled in wire format
(`chain.tx_wire`: no web3 formatters or middleware); eth-tester keeps web3's path.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Final

from coincurve import PrivateKey
from eth_account import Account
from eth_account.messages import SignableMessage
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from eth_utils.exceptions import ValidationError
from hexbytes import HexBytes
from web3.contract.contract import ContractConstructor, ContractFunction
from web3.exceptions import (
    ContractLogicError,
    TimeExhausted,
    TransactionNotFound,
    Web3Exception,
)
from web3.types import Nonce, TxParams, TxReceipt, Wei

from chain import tx_wire
from chain.abi_codec import FunctionCodec
from chain.connection import Chain, tester_failures
from chain.errors import (
    ChainError,
    ChainRequestError,
    ChainUnavailableError,
    TransactionRevertedError,
)
from chain.revert_decoder import RevertDecoder
from chain.view_calls import ZERO_ADDRESS, call_view, eth_call, revert_error
from consent.ids import Address, parse_address

__all__ = [
    "ZERO_ADDRESS",
    "ContractCall",
    "PendingTransaction",
    "Sender",
    "Transactable",
    "call_view",
]

log = logging.getLogger(__name__)

_RECEIPT_TIMEOUT: Final = 120.0
_FIRST_POLL_S: Final = 0.005
_MAX_POLL_S: Final = 0.5
_PRIORITY_FEE: Final = 10**9


@dataclass(frozen=True, slots=True)
class ContractCall:
    """A call of `function` on the contract at `to` with `args`, encoded by the cached codec
    (what the facades send: no web3 `ContractFunction` is built, see `chain.abi_codec`)."""

    to: str
    function: FunctionCodec
    args: tuple[Any, ...]

    @property
    def data(self) -> bytes:
        """The calldata (selector + encoded arguments)."""
        return self.function.calldata(self.args)


Transactable = ContractCall | ContractFunction | ContractConstructor


@dataclass(frozen=True, slots=True)
class PendingTransaction:
    """A sent transaction not yet known to be mined: what `Sender.wait` needs to settle it."""

    tx_hash: HexBytes
    fn: Transactable
    gas: int


class Sender:
    """One account sending transactions on one chain (use one sender per account per process:
    two writers sharing a key lose transactions to nonce races).

    With `manage_nonces` (a locally signing sender only) the sender counts its nonces itself:
    the first transaction reads the node's pending count, later ones take the next number under
    a lock, so many transactions can be in flight at once (`send`, then `wait` outside any lock).
    A refused send re-reads the count and, when another writer used the key meanwhile (the
    count moved), goes out once more with the fresh nonce. Without it every transaction reads the
    pending count (right for a key other processes may also use, and across snapshot reverts).
    """

    def __init__(
        self, chain: Chain, account: LocalAccount | Address, *, manage_nonces: bool = False
    ) -> None:
        self.chain = chain
        self._account = account if isinstance(account, LocalAccount) else None
        self._wire = chain.tester is None  # a JSON-RPC node: `chain.tx_wire`'s lean path
        self._key = None if self._account is None else PrivateKey(bytes(self._account.key))
        raw = account.address if isinstance(account, LocalAccount) else account
        self.address: Address = parse_address(raw)
        self._manage_nonces = manage_nonces and self._account is not None
        self._nonce: int | None = None
        self._nonce_lock = threading.Lock()
        self._fees_seen = tx_wire.base_fees(chain)

    @classmethod
    def from_key(
        cls, chain: Chain, private_key: str | bytes, *, manage_nonces: bool = False
    ) -> Sender:
        """A sender signing locally with `private_key` (hex or raw bytes)."""
        return cls(chain, Account.from_key(private_key), manage_nonces=manage_nonces)

    @classmethod
    def unlocked(cls, chain: Chain, address: str) -> Sender:
        """A sender for an account the node signs for (eth-tester accounts, anvil dev accounts)."""
        return cls(chain, parse_address(address))

    @property
    def signs_locally(self) -> bool:
        """True when this process holds the key (False for accounts unlocked on the node)."""
        return self._account is not None

    def sign_message(self, message: SignableMessage) -> bytes:
        """This account's 65-byte signature of an EIP-191 / EIP-712 message (consent receipts).

        Raises `ChainError` for an account the node signs for: its key is not here.
        """
        if self._account is None:
            raise ChainError(f"{self.address} is unlocked on the node; no local key to sign with")
        return bytes(self._account.sign_message(message).signature)

    def transact(self, fn: Transactable, gas: int, decoder: RevertDecoder) -> TxReceipt:
        """Send `fn` with gas limit `gas` and wait for its receipt.

        Raises the decoded `ContractRevertError` if it reverts, `TransactionRevertedError` for a
        revert without a known custom error (out of gas, panic), `ChainUnavailableError` when the
        node does not answer (from the connection's middleware) or mines nothing in time, and
        `ChainRequestError` when it refuses the transaction for another reason.

        An account the node signs for, on an automining node that answers
        `eth_sendTransactionSync` (anvil, `tx_wire.sends_sync`), gets its receipt with the send
        (no receipt polls); other nodes and locally signing senders poll (`wait`).
        """
        unlocked_call = self._account is None and self._wire and isinstance(fn, ContractCall)
        if unlocked_call and tx_wire.sends_sync(self.chain):
            assert isinstance(fn, ContractCall)
            return self._settled(self._transact_sync(fn, gas, decoder), fn, gas, decoder)
        return self.wait(self.send(fn, gas, decoder), fn, gas, decoder)

    def _transact_sync(self, fn: ContractCall, gas: int, decoder: RevertDecoder) -> TxReceipt:
        """`fn` sent with `eth_sendTransactionSync`: the node answers with the receipt (and
        picks the fees: no base fee read)."""
        try:
            return tx_wire.send_unlocked_sync(self.chain, self.address, fn, gas)
        except ContractLogicError as exc:
            raise revert_error(exc, decoder, None) from exc
        except Web3Exception as exc:
            raise ChainRequestError(f"sending failed: {exc}") from exc

    def send(self, fn: Transactable, gas: int, decoder: RevertDecoder) -> HexBytes:
        """Send `fn` with gas limit `gas` without waiting; its transaction hash.

        Raises like `transact` for what the node refuses at once.
        """
        try:
            if self._account is None:
                return self._send_unlocked(fn, gas)
            if not self._manage_nonces:
                return self._send_raw(self._signed(fn, gas, None))
            return self._send_counted(fn, gas)
        except tester_failures(ContractLogicError) as exc:
            raise revert_error(exc, decoder, None) from exc
        except (Web3Exception, ValidationError) as exc:  # eth-tester refuses with the latter
            raise ChainRequestError(f"sending failed: {exc}") from exc

    def _fees(self) -> TxParams:
        """EIP-1559 fees from the (cached) base fee: with both given, web3 asks the node for no
        fee estimate (`eth_getBlockByNumber` + `eth_maxPriorityFeePerGas` per transaction)."""
        base_fee = self._base_fee()
        return {
            "maxFeePerGas": Wei(2 * base_fee + _PRIORITY_FEE),
            "maxPriorityFeePerGas": Wei(_PRIORITY_FEE),
        }

    def _send_unlocked(self, fn: Transactable, gas: int) -> HexBytes:
        """Send through the node's `eth_sendTransaction` (it signs and picks the nonce)."""
        if self._wire and isinstance(fn, ContractCall):
            max_fee = 2 * self._base_fee() + _PRIORITY_FEE
            return tx_wire.send_unlocked(self.chain, self.address, fn, gas, max_fee, _PRIORITY_FEE)
        params: TxParams = {"from": self.address, "gas": gas, **self._fees()}
        if isinstance(fn, ContractCall):
            params.update({"to": to_checksum_address(fn.to), "data": HexBytes(fn.data)})
            return HexBytes(self.chain.w3.eth.send_transaction(params))
        return HexBytes(fn.transact(params))

    def _send_raw(self, raw: bytes) -> HexBytes:
        if not self._wire:
            return self.chain.w3.eth.send_raw_transaction(raw)
        return HexBytes(
            tx_wire.request(self.chain, "eth_sendRawTransaction", [HexBytes(raw).to_0x_hex()])
        )

    def _send_counted(self, fn: Transactable, gas: int) -> HexBytes:
        with self._nonce_lock:
            if self._nonce is None:
                self._nonce = self._pending_count()
            try:
                tx_hash = self._send_raw(self._signed(fn, gas, self._nonce))
            except Exception:
                # refused: if another writer used the key meanwhile, count again and retry once
                fresh = self._pending_count()
                if fresh == self._nonce:
                    self._nonce = None
                    raise
                self._nonce = fresh
                tx_hash = self._send_raw(self._signed(fn, gas, self._nonce))
            self._nonce += 1
            return tx_hash

    def _pending_count(self) -> int:
        if self._wire:
            return tx_wire.pending_count(self.chain, self.address)
        return self.chain.w3.eth.get_transaction_count(to_checksum_address(self.address), "pending")

    def wait(
        self, tx_hash: HexBytes, fn: Transactable, gas: int, decoder: RevertDecoder
    ) -> TxReceipt:
        """The receipt of `tx_hash` (sent for `fn` with limit `gas`); raises like `transact`."""
        try:
            receipt = self._receipt(tx_hash)
        except tester_failures(ContractLogicError) as exc:
            raise revert_error(exc, decoder, None) from exc
        except TimeExhausted as exc:
            # the node took the transaction but mined nothing for minutes: it is not serving
            raise ChainUnavailableError(
                self.chain.rpc, f"no receipt after {_RECEIPT_TIMEOUT:.0f} s"
            ) from exc
        except Web3Exception as exc:
            raise ChainRequestError(f"sending failed: {exc}") from exc
        return self._settled(receipt, fn, gas, decoder)

    def _settled(
        self, receipt: TxReceipt, fn: Transactable, gas: int, decoder: RevertDecoder
    ) -> TxReceipt:
        """`receipt` if the transaction succeeded; else raises its decoded revert (replayed)."""
        if receipt["status"] == 1:
            return receipt
        hex_hash = HexBytes(receipt["transactionHash"]).to_0x_hex()
        raise self._replay(fn, gas, receipt, decoder, hex_hash)

    def _receipt(self, tx_hash: HexBytes) -> TxReceipt:
        """Wait for the receipt, polling at 5 ms and doubling up to 0.5 s.

        Hand-written because web3's `wait_for_transaction_receipt` polls at one fixed latency
        (0.1 s by default): on an instant-mining dev node that is up to 0.1 s lost per
        transaction, while a short fixed latency would flood a real chain with 2-15 s blocks.
        """
        deadline = time.monotonic() + _RECEIPT_TIMEOUT
        delay = _FIRST_POLL_S
        while True:
            try:
                return self._receipt_now(tx_hash)
            except TransactionNotFound:
                if time.monotonic() >= deadline:
                    raise TimeExhausted(f"no receipt for {tx_hash.to_0x_hex()}") from None
            time.sleep(delay)
            delay = min(delay * 2, _MAX_POLL_S)

    def _receipt_now(self, tx_hash: HexBytes) -> TxReceipt:
        """The receipt if mined (a light one from a JSON-RPC node, `chain.tx_wire`), else
        `TransactionNotFound`."""
        if not self._wire:
            return self.chain.w3.eth.get_transaction_receipt(tx_hash)
        raw = tx_wire.request(self.chain, "eth_getTransactionReceipt", [tx_hash.to_0x_hex()])
        if raw is None:
            raise TransactionNotFound(f"no receipt yet for {tx_hash.to_0x_hex()}")
        return tx_wire.light_receipt(raw)

    def _base_fee(self) -> int:
        """The latest block's base fee; nonce-counting and unlocked senders re-read it at most
        every `tx_wire.BASE_FEE_S` per chain, all senders of the connection together (the fee cap is
        twice it; a base fee grows at most 12.5% a block)."""
        seen = self._fees_seen
        now = time.monotonic()
        cached = self._manage_nonces or self._account is None
        if not cached or now - seen.at > tx_wire.BASE_FEE_S:
            if self._wire:
                seen.value = tx_wire.latest_base_fee(self.chain)
            else:
                seen.value = int(self.chain.w3.eth.get_block("latest").get("baseFeePerGas", 0))
            seen.at = now
        return seen.value

    def _signed(self, fn: Transactable, gas: int, nonce: int | None) -> bytes:
        assert self._account is not None
        assert self._key is not None
        if self._wire and isinstance(fn, ContractCall):
            wire: dict[str, int | bytes] = {
                "chainId": self.chain.chain_id,
                "nonce": self._pending_count() if nonce is None else nonce,
                "maxPriorityFeePerGas": _PRIORITY_FEE,
                "maxFeePerGas": 2 * self._base_fee() + _PRIORITY_FEE,
                "gas": gas,
                "to": bytes(HexBytes(fn.to)),
                "value": 0,
                "data": fn.data,
            }
            return tx_wire.sign_dynamic_fee(self._key, wire)[0]
        params: TxParams = {
            "from": self.address,
            "gas": gas,
            "nonce": Nonce(self._pending_count() if nonce is None else nonce),
            "chainId": self.chain.chain_id,
            **self._fees(),
        }
        if isinstance(fn, ContractCall):
            del params["from"]
            params.update({"to": to_checksum_address(fn.to), "data": HexBytes(fn.data)})
            params.update({"value": Wei(0), "type": 2})
            tx: Any = params
        else:
            tx = fn.build_transaction(params)
        return bytes(self._account.sign_transaction(dict(tx)).raw_transaction)

    def _replay(
        self,
        fn: Transactable,
        gas: int,
        receipt: TxReceipt,
        decoder: RevertDecoder,
        tx_hash: str,
    ) -> ChainError:
        if receipt["gasUsed"] >= gas:
            return TransactionRevertedError(f"out of gas (limit {gas})", tx_hash=tx_hash)
        if isinstance(fn, ContractConstructor):
            return TransactionRevertedError("contract creation reverted", tx_hash=tx_hash)
        try:
            if isinstance(fn, ContractCall):
                eth_call(self.chain, fn.to, fn.data, receipt["blockNumber"], self.address)
            else:
                fn.call({"from": self.address}, block_identifier=receipt["blockNumber"])
        except tester_failures(ContractLogicError) as exc:
            return revert_error(exc, decoder, tx_hash)
        return TransactionRevertedError("reverted (no reason on replay)", tx_hash=tx_hash)
