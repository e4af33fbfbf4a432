"""Shared machinery of the typed contract facades (private to `chain/`).

Struct results are decoded, and struct-like arguments encoded, by the ABI's parameter NAMES, not
their positions (`ContractFacade._call_named`, `_transact_named`): a contract version whose round
or update record gains a field keeps decoding into the same Python records, and an older
deployment without the field still decodes (the record's default fills it in).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any, ClassVar, Final, TypeVar

from web3.contract.contract import Contract
from web3.exceptions import Web3Exception
from web3.types import FilterParams, LogReceipt, TxReceipt

from chain.abi_codec import codec
from chain.compile import CONTRACT_NAMES, load_artifact
from chain.connection import Chain
from chain.errors import ChainError, ChainRequestError
from chain.events import EventDecoder, LedgerEvent
from chain.revert_decoder import RevertDecoder
from chain.transactions import ZERO_ADDRESS, ContractCall, PendingTransaction, Sender, call_view
from consent.ids import Address

GAS_PER_STRING_WORD: Final = 25_000

__all__ = ["ContractFacade", "MissingSenderError", "camel", "revert_decoder", "string_gas"]

_E = TypeVar("_E")


@cache
def revert_decoder() -> RevertDecoder:
    """One decoder over the errors of all three contracts (selectors are shared)."""
    return RevertDecoder(load_artifact(name).abi for name in CONTRACT_NAMES)


@cache
def _functions(contract: str) -> Mapping[str, Mapping[str, Any]]:
    return {
        str(entry["name"]): entry
        for entry in load_artifact(contract).abi
        if entry.get("type") == "function"
    }


def camel(name: str) -> str:
    """A Python field name as the ABI spells it (`update_hash` -> `updateHash`)."""
    return re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), name)


def _named(abi: Mapping[str, Any], value: Any) -> Any:
    """`value` of ABI type `abi` with every tuple turned into a dict keyed by component name."""
    kind = str(abi["type"])
    if kind.endswith("[]"):
        inner = dict(abi, type=kind[:-2])
        return [_named(inner, item) for item in value]
    if kind == "tuple":
        return {
            str(part["name"]): _named(part, item)
            for part, item in zip(abi["components"], value, strict=True)
        }
    return value


def string_gas(*values: str) -> int:
    """Extra gas to store `values` as strings (one storage slot per 32 bytes, plus one)."""
    return sum(GAS_PER_STRING_WORD * ((len(v.encode()) + 31) // 32 + 1) for v in values)


class MissingSenderError(ChainError, RuntimeError):
    """A transaction was requested from a read-only facade."""


class ContractFacade:
    """A typed view of one deployed contract; `contract.functions.X` stays inside subclasses."""

    CONTRACT: ClassVar[str]

    def __init__(self, chain: Chain, address: Address, sender: Sender | None = None) -> None:
        self.chain = chain
        self.address = address
        self.sender = sender
        self._contract: Contract = chain.w3.eth.contract(
            address=chain.w3.to_checksum_address(address),
            abi=list(load_artifact(self.CONTRACT).abi),
        )
        self._events = EventDecoder(chain, [self._contract])

    def _fn(self, name: str, *args: Any) -> ContractCall:
        """`name` with `args`, encoded by the cached codec (not web3's `ContractFunction`)."""
        return ContractCall(self._contract.address, codec(self.CONTRACT, name), args)

    def _call(self, name: str, *args: Any, block: int | None = None) -> Any:
        """The view `name`'s result, as web3 would return it, in one `eth_call` (the lean
        path of `chain.abi_codec`, not `contract.functions`: web3's costs ~8 ms per call)."""
        caller = ZERO_ADDRESS if self.sender is None else self.sender.address
        function = codec(self.CONTRACT, name)
        return call_view(
            self.chain,
            self._contract.address,
            function,
            args,
            revert_decoder(),
            block,
            caller=caller,
        )

    def _call_named(self, name: str, *args: Any) -> Any:
        """A view whose single output is decoded by the ABI's component names (tuples become
        dicts, arrays of tuples lists of dicts)."""
        outputs = _functions(self.CONTRACT)[name]["outputs"]
        if len(outputs) != 1:
            raise ChainError(f"{self.CONTRACT}.{name} has {len(outputs)} outputs, expected one")
        return _named(outputs[0], self._call(name, *args))

    def _transact_named(self, gas: int, name: str, values: Mapping[str, Any]) -> TxReceipt:
        """Send `name` with its arguments picked from `values` by the ABI's input names.

        Values the function does not take are ignored (a record written for a newer contract
        version); an input missing from `values` is a `ChainError` naming it.
        """
        inputs = _functions(self.CONTRACT)[name]["inputs"]
        missing = [str(i["name"]) for i in inputs if i["name"] not in values]
        if missing:
            raise ChainError(f"{self.CONTRACT}.{name} needs {', '.join(missing)}")
        return self._transact(gas, name, *(values[str(i["name"])] for i in inputs))

    def _transact(self, gas: int, name: str, *args: Any) -> TxReceipt:
        if self.sender is None:
            raise MissingSenderError(f"{self.CONTRACT} facade has no sender: cannot call {name}")
        return self.sender.transact(self._fn(name, *args), gas, revert_decoder())

    def _send(self, gas: int, name: str, *args: Any) -> PendingTransaction:
        """Send without waiting for the receipt (settle with `_wait`)."""
        if self.sender is None:
            raise MissingSenderError(f"{self.CONTRACT} facade has no sender: cannot call {name}")
        fn = self._fn(name, *args)
        return PendingTransaction(self.sender.send(fn, gas, revert_decoder()), fn, gas)

    def _wait(self, pending: PendingTransaction) -> TxReceipt:
        if self.sender is None:
            raise MissingSenderError(f"{self.CONTRACT} facade has no sender to wait with")
        return self.sender.wait(pending.tx_hash, pending.fn, pending.gas, revert_decoder())

    def _receipt_events_of(self, receipt: TxReceipt, kind: type[_E]) -> list[_E]:
        return [e for e in self.receipt_events(receipt) if isinstance(e, kind)]

    def _single_event(self, receipt: TxReceipt, kind: type[_E]) -> _E:
        found = self._receipt_events_of(receipt, kind)
        if len(found) != 1:
            raise ChainError(f"expected one {kind.__name__} event, the receipt has {len(found)}")
        return found[0]

    def receipt_events(self, receipt: TxReceipt) -> list[LedgerEvent]:
        """The typed events this contract emitted in `receipt`."""
        stamp = receipt.get("blockTimestamp")  # a light receipt's, when the node gave it
        if isinstance(stamp, int):
            self._events.remember_timestamp(bytes(receipt["blockHash"]), stamp)
        return self._events.decode_all(receipt["logs"])

    def decode_logs(self, logs: Iterable[LogReceipt]) -> list[LedgerEvent]:
        """The typed events of this contract among `logs` (logs of other addresses skipped),
        in order: for logs read once for several contracts (`chain.audit.logs`)."""
        return self._events.decode_all(logs)

    def events(self, from_block: int, to_block: int | None = None) -> list[LedgerEvent]:
        """This contract's events in a block range, in chain order.

        On eth-tester a long range is slow (its log look-up scans block by block): sync
        incrementally over short ranges.
        """
        params: FilterParams = {
            "address": self._contract.address,
            "fromBlock": from_block,
            "toBlock": "latest" if to_block is None else to_block,
        }
        try:
            logs: list[LogReceipt] = self.chain.w3.eth.get_logs(params)
        except Web3Exception as exc:
            raise ChainRequestError(f"{self.CONTRACT} logs: {exc}") from exc
        return self._events.decode_all(logs)
