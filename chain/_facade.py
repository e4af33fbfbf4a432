"""Shared machinery of the typed contract facades (private to `chain/`)."""

from __future__ import annotations

from functools import cache
from typing import Any, ClassVar, Final, TypeVar

from web3.contract.contract import Contract, ContractFunction
from web3.exceptions import Web3Exception
from web3.types import FilterParams, LogReceipt, TxReceipt

from chain.compile import CONTRACT_NAMES, load_artifact
from chain.connection import Chain
from chain.errors import ChainError, ChainRequestError, RevertDecoder
from chain.events import EventDecoder, LedgerEvent
from chain.transactions import ZERO_ADDRESS, Sender, call_view
from consent.ids import Address

GAS_PER_STRING_WORD: Final = 25_000

_E = TypeVar("_E")


@cache
def revert_decoder() -> RevertDecoder:
    """One decoder over the errors of all three contracts (selectors are shared)."""
    return RevertDecoder(load_artifact(name).abi for name in CONTRACT_NAMES)


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
        self._events = EventDecoder(chain.w3, [self._contract])

    def _fn(self, name: str, *args: Any) -> ContractFunction:
        return self._contract.functions[name](*args)

    def _call(self, name: str, *args: Any, block: int | None = None) -> Any:
        caller = ZERO_ADDRESS if self.sender is None else self.sender.address
        return call_view(self._fn(name, *args), revert_decoder(), block, caller=caller)

    def _transact(self, gas: int, name: str, *args: Any) -> TxReceipt:
        if self.sender is None:
            raise MissingSenderError(f"{self.CONTRACT} facade has no sender: cannot call {name}")
        return self.sender.transact(self._fn(name, *args), gas, revert_decoder())

    def _receipt_events_of(self, receipt: TxReceipt, kind: type[_E]) -> list[_E]:
        return [e for e in self.receipt_events(receipt) if isinstance(e, kind)]

    def _single_event(self, receipt: TxReceipt, kind: type[_E]) -> _E:
        found = self._receipt_events_of(receipt, kind)
        if len(found) != 1:
            raise ChainError(f"expected one {kind.__name__} event, the receipt has {len(found)}")
        return found[0]

    def receipt_events(self, receipt: TxReceipt) -> list[LedgerEvent]:
        """The typed events this contract emitted in `receipt`."""
        return self._events.decode_all(receipt["logs"])

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
