"""The transaction path of a JSON-RPC node in wire format: requests, light receipts, signing.

`Sender` uses these on a JSON-RPC node instead of web3's `eth` module (eth-tester keeps web3:
its provider needs web3's middleware to turn wire params into its own). web3's path spends
most of a transaction's Python time on request/result formatters (`recursive_map`, ABI type
checks, `AttributeDict.recursive`) and, for a locally signed transaction, on eth_account's
generic typed-transaction validation; here the params are built in wire format once and the
answers are read with only the fields the consumers use.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, cast
from weakref import WeakKeyDictionary

import rlp
from coincurve import PrivateKey
from eth_utils.address import to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3._utils.error_formatters_utils import raise_contract_logic_error_on_revert
from web3.types import LogReceipt, RPCResponse, TxReceipt

from chain.connection import Chain
from consent.ids import InvalidIdentifierError, parse_address
from consent.keccak import keccak256 as keccak

if TYPE_CHECKING:  # a cycle at run time: chain.transactions imports this module
    from chain.transactions import ContractCall

__all__ = [
    "BASE_FEE_S",
    "BaseFee",
    "base_fees",
    "latest_base_fee",
    "light_receipt",
    "pending_count",
    "request",
    "send_unlocked",
    "send_unlocked_sync",
    "sends_sync",
    "sign_dynamic_fee",
]

_DYNAMIC_FEE_TX: Final = b"\x02"
BASE_FEE_S: Final = 1.0
"""How long senders reuse a base fee they read (`Sender._base_fee`)."""


@dataclass(slots=True)
class BaseFee:
    """The last base fee read on one connection, and when (`time.monotonic`)."""

    value: int = 0
    at: float = -BASE_FEE_S


_BASE_FEES: Final[WeakKeyDictionary[Web3, BaseFee]] = WeakKeyDictionary()


def base_fees(chain: Chain) -> BaseFee:
    """The base fee record shared by every sender of `chain`'s connection."""
    return _BASE_FEES.setdefault(chain.w3, BaseFee())


def request(
    chain: Chain,
    method: str,
    params: list[Any],
    error_formatter: Callable[[RPCResponse], Any] | None = None,
) -> Any:
    """The `result` of one raw request: `Chain.request` (kept here for the wire path's callers)."""
    return chain.request(method, params, error_formatter)


def send_unlocked(
    chain: Chain, sender: str, call: ContractCall, gas: int, max_fee: int, priority_fee: int
) -> HexBytes:
    """Send `call` from `sender`, an account the node signs for (`eth_sendTransaction`), with
    both EIP-1559 fees given; its hash. A revert the node reports at once raises web3's
    `ContractLogicError` family (`raise_contract_logic_error_on_revert`)."""
    answer = request(
        chain,
        "eth_sendTransaction",
        [_unlocked_tx(sender, call, gas, max_fee, priority_fee)],
        raise_contract_logic_error_on_revert,
    )
    return HexBytes(answer)


def send_unlocked_sync(chain: Chain, sender: str, call: ContractCall, gas: int) -> TxReceipt:
    """As `send_unlocked`, through `eth_sendTransactionSync` (EIP-7966): the node answers once
    the transaction is mined, with its receipt (a light one). Only for a node `sends_sync`: a
    dev node mining each transaction as it arrives, so it also picks the fees (from the base
    fee of the block it mines: no base fee read here)."""
    tx = {"from": sender, "to": call.to, "data": HexBytes(call.data).to_0x_hex(), "gas": hex(gas)}
    raw = request(chain, "eth_sendTransactionSync", [tx], raise_contract_logic_error_on_revert)
    return light_receipt(raw)


def _unlocked_tx(
    sender: str, call: ContractCall, gas: int, max_fee: int, priority_fee: int
) -> dict[str, str]:
    return {
        "from": sender,
        "to": call.to,
        "data": HexBytes(call.data).to_0x_hex(),
        "gas": hex(gas),
        "maxFeePerGas": hex(max_fee),
        "maxPriorityFeePerGas": hex(priority_fee),
    }


_SENDS_SYNC: Final[WeakKeyDictionary[Web3, bool]] = WeakKeyDictionary()


def sends_sync(chain: Chain) -> bool:
    """Whether `chain`'s node mines each transaction as it arrives and answers
    `eth_sendTransactionSync`: anvil with automine on (`anvil_getAutomine` is true; anvil 1.7
    has both). Asked once per connection; a node without `anvil_getAutomine` (geth, a real
    chain) polls for receipts instead. A node that does not answer raises
    `ChainUnavailableError` (nothing is remembered)."""
    known = _SENDS_SYNC.get(chain.w3)
    if known is None:
        response = chain.raw_request("anvil_getAutomine", [])
        known = _SENDS_SYNC[chain.w3] = response.get("result") is True
    return known


def pending_count(chain: Chain, address: str) -> int:
    """`address`'s transaction count including pending ones (its next nonce)."""
    return int(request(chain, "eth_getTransactionCount", [address, "pending"]), 16)


def latest_base_fee(chain: Chain) -> int:
    """The latest block's base fee (0 before London)."""
    block = request(chain, "eth_getBlockByNumber", ["latest", False])
    return int(block.get("baseFeePerGas", "0x0"), 16)


def _checksummed(raw: str) -> str:
    """EIP-55 of an address the node gave: `consent.ids`' cached checksum (a receipt's logs
    name the same contract again and again; eth_utils' `to_checksum_address` validated and
    hashed each, ~4% of a relayed revocation's profiled CPU), eth_utils for any other form."""
    try:
        return parse_address(raw)
    except InvalidIdentifierError:
        return to_checksum_address(raw)


def _log(raw: Mapping[str, Any]) -> LogReceipt:
    return cast(
        LogReceipt,
        {
            "address": _checksummed(raw["address"]),
            "topics": [HexBytes(topic) for topic in raw["topics"]],
            "data": HexBytes(raw["data"]),
            "logIndex": int(raw["logIndex"], 16),
            "transactionIndex": int(raw["transactionIndex"], 16),
            "transactionHash": HexBytes(raw["transactionHash"]),
            "blockHash": HexBytes(raw["blockHash"]),
            "blockNumber": int(raw["blockNumber"], 16),
            "removed": bool(raw.get("removed", False)),
        },
    )


def light_receipt(raw: Mapping[str, Any]) -> TxReceipt:
    """A JSON-RPC receipt with the fields the consumers read, typed as web3 gives them
    (hashes and data `HexBytes`, numbers `int`, addresses checksummed): `status`, `gasUsed`,
    `blockNumber`, `blockHash`, `transactionHash`, `contractAddress` and `logs` (each with
    `address`, `topics`, `data`, `logIndex`, `transactionIndex`, `transactionHash`,
    `blockHash`, `blockNumber`, `removed`), and `blockTimestamp` (an `int`) when the node
    gives it (anvil does; the events then need no block read for their time). A plain dict:
    web3's `process_receipt` and `process_log` take it as they take web3's own receipts."""
    created = raw.get("contractAddress")
    receipt = cast(
        TxReceipt,
        {
            "status": int(raw["status"], 16),
            "gasUsed": int(raw["gasUsed"], 16),
            "blockNumber": int(raw["blockNumber"], 16),
            "blockHash": HexBytes(raw["blockHash"]),
            "transactionHash": HexBytes(raw["transactionHash"]),
            "contractAddress": None if created is None else _checksummed(created),
            "logs": [_log(entry) for entry in raw["logs"]],
        },
    )
    stamp = raw.get("blockTimestamp")
    if isinstance(stamp, int | str):  # a JSON number (anvil) or a hex quantity
        receipt["blockTimestamp"] = stamp if isinstance(stamp, int) else int(stamp, 16)  # type: ignore[typeddict-unknown-key]
    return receipt


def sign_dynamic_fee(key: PrivateKey, tx: Mapping[str, int | bytes]) -> tuple[bytes, bytes]:
    """The raw EIP-1559 (type 2) transaction `tx` signed with `key`, and its hash.

    `tx` holds `chainId`, `nonce`, `maxPriorityFeePerGas`, `maxFeePerGas`, `gas`, `to` (20
    bytes), `value` and `data` (bytes). Hand-written because eth_account offers no public
    lower-level path: its `sign_transaction` validates and re-formats the dict generically
    (~1.5 ms against ~0.3 ms here); the encoding is EIP-1559's
    `0x02 || rlp([chainId, nonce, maxPriorityFeePerGas, maxFeePerGas, gas, to, value, data,
    accessList, yParity, r, s])` over a signature of `keccak(0x02 || rlp(first nine))`, and a
    unit test holds the bytes and hash equal to eth_account's. libsecp256k1 (coincurve) signs
    deterministically (RFC 6979) with a low `s`, as eth_account does.
    """
    fields: list[Any] = [
        tx["chainId"],
        tx["nonce"],
        tx["maxPriorityFeePerGas"],
        tx["maxFeePerGas"],
        tx["gas"],
        tx["to"],
        tx["value"],
        tx["data"],
        [],  # no access list
    ]
    digest = keccak(_DYNAMIC_FEE_TX + rlp.encode(fields))
    signature = key.sign_recoverable(digest, hasher=None)
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big")
    raw = _DYNAMIC_FEE_TX + rlp.encode([*fields, signature[64], r, s])
    return raw, keccak(raw)
