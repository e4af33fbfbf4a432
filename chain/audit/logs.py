"""The audit's logs: every contract's logs of the study read once, handed to each reader.

`LedgerView.read` used to ask the consent registry, the study registry and the round ledger for
their events one after the other: three `eth_getLogs` per 2,000 blocks, and on eth-tester each
of them scans every block of its range (py-evm's log look-up), which dominated the audit there.
`read_events` asks once per range for the logs of all the audited contracts (one filter over
their addresses) and gives each facade only the logs of its own address to decode
(`ContractFacade.decode_logs`: the logs' address and first topic pick the event, as before).

The logs are asked for with `Chain.raw_request` (a node that is down is still
`ChainUnavailableError`), past web3's formatters and attribute-dict middleware, which wrap every
field of every log (`HexBytes`, attribute dicts: ~10% of an anvil audit profiled) for a decoder
that reads the topic words and data as plain bytes: `_plain` turns the node's hex fields into the
bytes and integers `chain.event_codec` reads. On eth-tester the logs are read from its py-evm
chain directly (`_tester_logs`: its own look-up is quadratic in the chain's length).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, cast

from web3.types import LogReceipt

from chain._facade import ContractFacade
from chain.connection import Chain
from chain.errors import ChainRequestError
from chain.events import LedgerEvent

if TYPE_CHECKING:
    from eth_tester import EthereumTester

__all__ = ["EVENT_CHUNK", "read_events"]

EVENT_CHUNK: Final = 2_000
"""Blocks per log query (eth-tester's look-up cost grows with the range)."""


def read_events(
    chain: Chain, facades: Sequence[ContractFacade], start: int, last: int
) -> list[list[LedgerEvent]]:
    """Each of `facades`' events in blocks `start..last`, in chain order (one list per facade).

    Raises `ChainUnavailableError` when the node is down, `ChainRequestError` when it refuses
    the query or answers with something that is not a list of logs."""
    by_address: dict[str, list[LogReceipt]] = {f.address.lower(): [] for f in facades}
    addresses = [str(chain.w3.to_checksum_address(f.address)) for f in facades]
    while start <= last:
        end = min(start + EVENT_CHUNK - 1, last)
        for log in _logs(chain, addresses, start, end):
            found = by_address.get(str(log["address"]).lower())
            if found is not None:  # a node that answers for other addresses: not ours, skipped
                found.append(log)
        start = end + 1
    return [f.decode_logs(by_address[f.address.lower()]) for f in facades]


def _logs(chain: Chain, addresses: list[str], first: int, last: int) -> list[LogReceipt]:
    if chain.tester is not None:
        return _tester_logs(chain.tester, addresses, first, last)
    params = {"address": addresses, "fromBlock": hex(first), "toBlock": hex(last)}
    response = chain.raw_request("eth_getLogs", [params])
    if "error" in response:
        raise ChainRequestError(f"logs of {first}..{last}: {response['error']}")
    answer = response.get("result")
    if not isinstance(answer, list | tuple):
        raise ChainRequestError(f"logs of {first}..{last}: the node answered {answer!r}")
    return [_plain(log) for log in answer]


def _bytes(raw: Any) -> bytes:
    return bytes.fromhex(raw[2:]) if isinstance(raw, str) else bytes(raw)


def _int(raw: Any) -> int:
    return int(raw, 16) if isinstance(raw, str) else int(raw)


def _plain(log: Mapping[str, Any]) -> LogReceipt:
    """`log` with its topics, data and hashes as bytes and its numbers as ints."""
    try:
        plain = {
            "address": str(log["address"]),
            "topics": [_bytes(t) for t in log["topics"]],
            "data": _bytes(log["data"]),
            "blockHash": _bytes(log["blockHash"]),
            "blockNumber": _int(log["blockNumber"]),
            "transactionHash": _bytes(log["transactionHash"]),
            "transactionIndex": _int(log["transactionIndex"]),
            "logIndex": _int(log["logIndex"]),
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise ChainRequestError(f"the node answered a malformed log {log!r}") from exc
    return cast(LogReceipt, plain)


def _tester_logs(
    tester: EthereumTester, addresses: list[str], first: int, last: int
) -> list[LogReceipt]:
    """The logs of `addresses` in mined blocks `first..last`, read from eth-tester's py-evm chain
    block by block, in the shape and order its `eth_getLogs` gives (log index within the
    transaction's receipt). Hand-written because eth-tester's own `get_logs` looks up every
    transaction's receipt by hash, scanning back from the head each time (quadratic in the
    chain's length: ~0.13 s a transaction at 20 rounds, 16 s of a 27 s audit profile); no
    maintained reader does it in one pass."""
    chain = tester.backend.chain  # eth-tester's PyEVMBackend: the in-process chain itself
    wanted = {bytes.fromhex(a[2:].lower()) for a in addresses}
    last = min(last, chain.get_canonical_head().block_number)  # mined blocks only, as eth-tester
    logs: list[LogReceipt] = []
    for number in range(first, last + 1):
        block = chain.get_canonical_block_by_number(number)
        if not block.transactions:
            continue
        receipts = block.get_receipts(chain.chaindb)
        for index, (tx, receipt) in enumerate(zip(block.transactions, receipts, strict=True)):
            for log_index, log in enumerate(receipt.logs):
                if log.address not in wanted:
                    continue
                entry = {
                    "address": "0x" + log.address.hex(),
                    "topics": [topic.to_bytes(32, "big") for topic in log.topics],
                    "data": bytes(log.data),
                    "blockHash": bytes(block.hash),
                    "blockNumber": number,
                    "transactionHash": bytes(tx.hash),
                    "transactionIndex": index,
                    "logIndex": log_index,
                }
                logs.append(cast(LogReceipt, entry))
    return logs
