"""Connect to a chain: the in-process eth-tester (py-evm) or any JSON-RPC URL."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, cast

import requests
from requests.utils import get_netrc_auth
from web3 import Web3
from web3._utils.validation import validate_rpc_response_and_raise_if_error
from web3.exceptions import Web3Exception, Web3RPCError
from web3.middleware.base import Web3Middleware

if TYPE_CHECKING:  # eth-tester (py-evm) is imported only when an in-process chain is made
    from eth_tester import EthereumTester
    from web3.types import MakeRequestFn, RPCEndpoint, RPCResponse

from chain.errors import (
    BlockNotFoundError,
    ChainIdMismatchError,
    ChainRequestError,
    ChainUnavailableError,
)
from chain.http_provider import KeepAliveHTTPProvider

__all__ = [
    "ETH_TESTER",
    "ETH_TESTER_CHAIN_ID",
    "Chain",
    "Unavailability",
    "connect",
    "http_session",
    "tester_failures",
]

log = logging.getLogger(__name__)

ETH_TESTER: Final = "eth-tester"
_BATCH: Final = 500
"""Blocks asked for in one JSON-RPC batch of `Chain.block_timestamps` (nodes cap a batch)."""
ETH_TESTER_CHAIN_ID: Final = 131277322940537
"""The chain id eth-tester (py-evm) reports: a deployment on it lives only in its process."""


@dataclass(frozen=True, eq=False, slots=True)
class Chain:
    """A connected chain. `tester` is set for the in-process eth-tester chain (tests, demo)."""

    w3: Web3
    rpc: str
    chain_id: int
    tester: EthereumTester | None = None
    _raw: list[MakeRequestFn] = field(default_factory=list, repr=False)
    """`raw_request`'s wrapped provider call, built on first use (a list: the class is frozen)."""

    @property
    def ephemeral(self) -> bool:
        """True when the chain lives in this process and dies with it."""
        return self.tester is not None

    def block_number(self) -> int:
        """The latest block number (on a JSON-RPC node one `request`, past web3's formatters
        and attribute-dict middleware; eth-tester's provider needs them)."""
        if self.tester is None:
            return int(self.request("eth_blockNumber", []), 16)
        return int(self.w3.eth.block_number)

    def block_timestamp(self, block: int | None = None) -> int:
        """Unix timestamp of `block` (the latest block by default; that one on a JSON-RPC node
        through `request`: web3 formats a whole block, every transaction hash, for one field)."""
        if block is None and self.tester is None:
            latest = self.request("eth_getBlockByNumber", ["latest", False])
            return int(latest["timestamp"], 16)
        return int(self.w3.eth.get_block("latest" if block is None else block)["timestamp"])

    def block_timestamps(self, blocks: Iterable[int]) -> dict[int, int]:
        """The Unix timestamp of each of `blocks`: one JSON-RPC batch per `_BATCH` blocks on a
        JSON-RPC node (each answer checked to be the block asked for), eth-tester's own block
        look-up in process (past web3's block formatters).

        Raises `ChainUnavailableError` when the node is down, `BlockNotFoundError` for a block
        the node does not have (or answered for another), `ChainRequestError` for another
        error answer."""
        wanted = sorted(set(blocks))
        if self.tester is not None:
            return {b: _tester_timestamp(self.tester, b) for b in wanted}
        batch = getattr(self.w3.provider, "make_batch_request", None)
        if batch is None:  # a provider without batches: one request a block
            return {b: _timestamp(b, self.raw_request("eth_getBlockByNumber", [hex(b), False]))
                    for b in wanted}  # fmt: skip
        times: dict[int, int] = {}
        for start in range(0, len(wanted), _BATCH):
            part = wanted[start : start + _BATCH]
            requests = [("eth_getBlockByNumber", [hex(b), False]) for b in part]
            try:
                answers = batch(requests)
            except OSError as exc:  # what `Unavailability` translates for single requests
                raise ChainUnavailableError(self.rpc, str(exc) or type(exc).__name__) from exc
            if not isinstance(answers, list) or len(answers) != len(part):
                raise ChainRequestError(f"block timestamps: the node answered {answers!r}")
            for block, answer in zip(part, answers, strict=True):
                times[block] = _timestamp(block, answer)
        return times

    def has_code(self, address: str) -> bool:
        """Whether a contract is deployed at `address`."""
        return len(self.w3.eth.get_code(Web3.to_checksum_address(address))) > 0

    def raw_request(self, method: str, params: Any) -> RPCResponse:
        """One JSON-RPC request handed straight to the provider: past web3's validation,
        formatting and attribute-dict middleware (~4 ms of Python per `eth_call`, half of it
        asking the chain id again through the whole stack), with only the unavailability
        translation (node down -> `ChainUnavailableError`). The answer is the raw JSON-RPC
        response (`result` or `error`). For the lean view path of a JSON-RPC node."""
        if not self._raw:  # built once: the provider does not change under a connection
            self._raw.append(Unavailability(self.w3).wrap_make_request(self._provider_request))
        return self._raw[0](cast("RPCEndpoint", method), params)

    def request(
        self,
        method: str,
        params: list[Any],
        error_formatter: Callable[[RPCResponse], Any] | None = None,
    ) -> Any:
        """The `result` of one `raw_request` (node down -> `ChainUnavailableError`); an error
        answer raises as web3 raises it (`Web3RPCError`, or what `error_formatter` raises first:
        `raise_contract_logic_error_on_revert` for a revert)."""
        response = self.raw_request(method, params)
        if "error" in response:
            validate_rpc_response_and_raise_if_error(response, error_formatter, params=params)
            raise Web3RPCError(f"{method} failed: {response['error']}")  # not reached by web3
        if "result" not in response:
            raise Web3RPCError(f"{method} answered without a result: {response}")
        return response["result"]

    def _provider_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        # looked up per call, not bound once: a test or benchmark may wrap the provider's method
        return self.w3.provider.make_request(method, params)

    def snapshot(self) -> Any:
        """Snapshot the chain state (eth-tester and anvil)."""
        if self.tester is not None:
            return self.tester.take_snapshot()
        return self.w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]

    def revert(self, snapshot_id: Any) -> None:
        """Return to a snapshot taken with `snapshot`."""
        if self.tester is not None:
            self.tester.revert_to_snapshot(snapshot_id)
        else:
            self.w3.provider.make_request("evm_revert", [snapshot_id])  # type: ignore[arg-type]

    def advance_time(self, seconds: int) -> None:
        """Move the clock forward and mine a block (eth-tester and anvil dev nodes only)."""
        if self.tester is not None:
            # eth-tester stamps its pending block with the wall clock when it was opened, which can
            # be later than the last mined block; travelling to before it is refused
            self.tester.time_travel(max(self.block_timestamp(), int(time.time())) + seconds)
        else:
            self.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
            self.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def _timestamp(block: int, answer: Any) -> int:
    """The timestamp in the answer to `eth_getBlockByNumber(block)`, checked to be `block`'s."""
    if isinstance(answer, dict) and "error" in answer:
        raise ChainRequestError(f"block {block}: the node answered {answer['error']!r}")
    result = answer.get("result") if isinstance(answer, dict) else None
    if result is None:
        raise BlockNotFoundError(f"no block {block}")
    number = result.get("number") if isinstance(result, dict) else None
    stamp = result.get("timestamp") if isinstance(result, dict) else None
    if not isinstance(number, str) or not isinstance(stamp, str):
        raise ChainRequestError(f"block {block}: the node answered {answer!r}")
    if int(number, 16) != block:
        raise BlockNotFoundError(f"block {block}: the node answered block {number}")
    return int(stamp, 16)


def _tester_timestamp(tester: EthereumTester, block: int) -> int:
    from eth_tester.exceptions import BlockNotFound

    try:
        found = tester.get_block_by_number(block)
    except BlockNotFound as exc:
        raise BlockNotFoundError(f"no block {block}") from exc
    if int(found["number"]) != block:
        raise BlockNotFoundError(f"block {block}: eth-tester answered block {found['number']}")
    return int(found["timestamp"])


class ChainIdCache(Web3Middleware):
    """Answer `eth_chainId` from the node's first answer.

    web3's validation middleware asks the node for the chain id before every `eth_call` and
    every transaction (two requests each: 33 calls cost 66 extra requests per round). web3's own
    request cache only exists on the HTTP and IPC providers, not on eth-tester's, so this small
    middleware does it for every provider. A node does not change chain id under a connection.
    """

    _answer: RPCResponse | None = None

    def wrap_make_request(self, make_request: MakeRequestFn) -> MakeRequestFn:
        def middleware(method: RPCEndpoint, params: Any) -> RPCResponse:
            if method != "eth_chainId":
                return make_request(method, params)
            if self._answer is None:
                response = make_request(method, params)
                if "result" not in response:
                    return response
                self._answer = response
            return self._answer

        return middleware


class Unavailability(Web3Middleware):
    """Translate a transport failure of any request into `ChainUnavailableError`, once.

    The HTTP provider raises `requests` errors (all `OSError`s: refused, reset, timed out) after
    its own retries; this middleware sits next to the provider, so every call the facades, the
    sender or the event readers make fails the same way when the node is down, and a revert can
    only ever mean the node answered.
    """

    def wrap_make_request(self, make_request: MakeRequestFn) -> MakeRequestFn:
        rpc = getattr(self._w3.provider, "endpoint_uri", None) or ETH_TESTER

        def middleware(method: RPCEndpoint, params: Any) -> RPCResponse:
            try:
                return make_request(method, params)
            except ChainUnavailableError:
                raise
            except OSError as exc:
                raise ChainUnavailableError(str(rpc), str(exc) or type(exc).__name__) from exc

        return middleware


def _middleware(w3: Web3) -> None:
    # innermost first: the unavailability translation wraps the provider itself
    w3.middleware_onion.inject(Unavailability, name="unavailability", layer=0)
    w3.middleware_onion.add(ChainIdCache, name="chain_id_cache")
    # web3's gas price strategy middleware reads the latest block for EVERY eth_sendTransaction
    # to fill fees a strategy would give; the senders always pass both EIP-1559 fees
    # (`Sender._fees`) and set no strategy, so it is one wasted request per transaction
    w3.middleware_onion.remove("gas_price_strategy")


def http_session(rpc: str) -> requests.Session:
    """A `requests` session for `rpc` with the environment's settings resolved once, now.

    With `trust_env` (the default) `requests` re-reads the proxy variables, `no_proxy`, the CA
    bundle variables and `~/.netrc` on EVERY request (`merge_environment_settings`,
    `get_environ_proxies`): about 0.6 ms of a 2 ms request to a local node. This resolves what
    they give for this URL at connect time, sets it on the session and turns `trust_env` off, so
    a proxy or CA bundle set in the environment is still honoured, for the whole connection.
    """
    session = requests.Session()
    settings = session.merge_environment_settings(rpc, {}, None, None, None)
    session.proxies = dict(settings["proxies"])
    session.verify = settings["verify"]
    session.auth = get_netrc_auth(rpc)
    session.trust_env = False
    return session


def tester_failures(*others: type[Exception]) -> tuple[type[Exception], ...]:
    """`others` plus eth-tester's `TransactionFailed` (what its reverts raise), which is left out
    when eth-tester was never imported: then no in-process chain exists and nothing can raise it.
    For `except` clauses, so that talking to a JSON-RPC node never loads py-evm."""
    if "eth_tester" not in sys.modules:
        return others
    from eth_tester.exceptions import TransactionFailed

    return (*others, TransactionFailed)


def _eth_tester() -> Chain:
    from eth_tester import EthereumTester, PyEVMBackend
    from web3 import EthereumTesterProvider

    tester = EthereumTester(PyEVMBackend())
    w3 = Web3(EthereumTesterProvider(tester))
    _middleware(w3)
    return Chain(w3=w3, rpc=ETH_TESTER, chain_id=int(w3.eth.chain_id), tester=tester)


def connect(rpc: str, *, expected_chain_id: int | None = None, timeout: float = 10.0) -> Chain:
    """Connect to `rpc` ("eth-tester" for a fresh in-process chain, else an http(s) URL).

    Raises `ChainUnavailableError` if the node does not answer and `ChainIdMismatchError` if
    `expected_chain_id` is given and differs.
    """
    if rpc == ETH_TESTER:
        chain = _eth_tester()
    else:
        if not rpc.startswith(("http://", "https://")):
            raise ChainUnavailableError(rpc, "expected an http(s):// URL or 'eth-tester'")
        provider = KeepAliveHTTPProvider(rpc, timeout=timeout, session=http_session(rpc))
        w3 = Web3(provider)
        _middleware(w3)
        try:
            chain_id = int(w3.eth.chain_id)
        except (Web3Exception, ValueError) as exc:  # answered, but not as a JSON-RPC node
            raise ChainUnavailableError(rpc, str(exc) or type(exc).__name__) from exc
        chain = Chain(w3=w3, rpc=rpc, chain_id=chain_id)
    if expected_chain_id is not None and chain.chain_id != expected_chain_id:
        raise ChainIdMismatchError(expected_chain_id, chain.chain_id)
    log.info("connected to %s (chain id %d)", chain.rpc, chain.chain_id)
    return chain
