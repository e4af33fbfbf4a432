"""View calls (`eth_call`) and the translation of a revert into a typed chain exception.

Split from `chain.transactions` (which re-exports `call_view` and `ZERO_ADDRESS`): the sender
replays a failed transaction through `eth_call` and decodes its revert the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from eth_abi.exceptions import DecodingError
from hexbytes import HexBytes
from web3._utils.error_formatters_utils import raise_contract_logic_error_on_revert
from web3.exceptions import ContractLogicError, Web3Exception, Web3RPCError
from web3.types import RPCEndpoint

from chain.abi_codec import FunctionCodec
from chain.connection import Chain, tester_failures
from chain.errors import ChainError, ChainRequestError, TransactionRevertedError
from chain.revert_decoder import RevertDecoder, raw_revert_data
from consent.ids import Address

__all__ = ["ZERO_ADDRESS", "call_view", "eth_call", "revert_error"]

ZERO_ADDRESS: Final = Address("0x0000000000000000000000000000000000000000")


def revert_error(exc: Exception, decoder: RevertDecoder, tx_hash: str | None) -> ChainError:
    """The decoded custom error of a revert `exc` (`TransactionRevertedError` without data)."""
    data = raw_revert_data(exc)
    if data is None:
        return TransactionRevertedError(str(exc), tx_hash=tx_hash)
    return decoder.decode(data, tx_hash=tx_hash)


def call_view(
    chain: Chain,
    to: str,
    function: FunctionCodec,
    args: Sequence[Any],
    decoder: RevertDecoder,
    block: int | None = None,
    *,
    caller: Address = ZERO_ADDRESS,
) -> Any:
    """Call the view `function` of the contract at `to` as `caller`: ONE `eth_call` request.

    The calldata and result go through the cached `FunctionCodec` rather than web3's contract
    machinery (~8 ms of Python per call, see `chain.abi_codec`); the request keeps the
    connection's unavailability translation (node down -> `ChainUnavailableError`) and web3's
    own revert formatter, so a revert becomes the matching `ContractRevertError` on anvil
    (revert data in the JSON-RPC error) and on eth-tester (`TransactionFailed`) alike. Other
    failures, and an answer that does not decode, are `ChainRequestError`s.

    The caller is always explicit: without one, web3's eth-tester provider looks up the node's
    accounts three times per call to pick a default (the views do not depend on the caller).
    """
    try:
        raw = eth_call(chain, to, function.calldata(args), block, caller)
        return function.result(raw)
    except tester_failures(ContractLogicError) as exc:
        raise revert_error(exc, decoder, None) from exc
    except (Web3Exception, DecodingError) as exc:
        raise ChainRequestError(f"{function.name}: {exc}") from exc


def eth_call(chain: Chain, to: str, data: bytes, block: int | None, caller: str) -> HexBytes:
    """One `eth_call`; a revert raises web3's `ContractLogicError` family (eth-tester's
    `TransactionFailed`), as `ContractFunction.call` does, another error `Web3RPCError`.

    A JSON-RPC node gets the request past web3's middleware (`Chain.raw_request`: the params
    are already in wire format), with web3's own revert formatter applied to the answer;
    eth-tester needs web3's middleware to turn wire params into its own, so it keeps it.
    """
    tx = {"from": caller, "to": to, "data": HexBytes(data).to_0x_hex()}
    params = [tx, "latest" if block is None else hex(block)]
    if chain.tester is not None:
        raw = chain.w3.manager.request_blocking(
            RPCEndpoint("eth_call"), params, error_formatters=raise_contract_logic_error_on_revert
        )
        return HexBytes(raw)
    response = chain.raw_request("eth_call", params)
    if "error" in response:
        raise_contract_logic_error_on_revert(response)  # raises for every revert
        raise Web3RPCError(f"eth_call failed: {response['error']}")
    raw = response.get("result")
    if not isinstance(raw, str):
        raise Web3RPCError(f"eth_call answered without a result: {response}")
    return HexBytes(raw)
