"""Block timestamps for the audit view: one JSON-RPC batch per few hundred blocks.

The view needs the timestamp of every block holding a submission or a finalisation (freshness
and consent-at-block checks): at 20 rounds of 3 hospitals, 80 blocks. Read one `get_block` at a
time through web3 (which formats the whole block), they were ~15% of the audit's profile on
anvil; a batch asks once. Each answer is checked to be the block asked for. eth-tester keeps
web3's path (no HTTP round trips to save).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from web3.types import RPCEndpoint

from chain.connection import Chain
from chain.errors import ChainRequestError, ChainUnavailableError

__all__ = ["block_times"]

_BATCH: Final = 500
"""Blocks asked for in one JSON-RPC batch (nodes cap a batch's size; anvil's is larger)."""


def block_times(chain: Chain, blocks: Iterable[int]) -> dict[int, int]:
    """The Unix timestamp of each of `blocks`.

    Raises `ChainUnavailableError` when the node is down, `ChainRequestError` when it answers
    with an error or with another block than the one asked for."""
    wanted = sorted(set(blocks))
    batch = getattr(chain.w3.provider, "make_batch_request", None)
    if chain.tester is not None or batch is None:
        return {b: chain.block_timestamp(b) for b in wanted}
    times: dict[int, int] = {}
    for start in range(0, len(wanted), _BATCH):
        part = wanted[start : start + _BATCH]
        requests = [(RPCEndpoint("eth_getBlockByNumber"), [hex(b), False]) for b in part]
        try:
            answers = batch(requests)
        except OSError as exc:  # what `chain.connection.Unavailability` translates for requests
            raise ChainUnavailableError(chain.rpc, str(exc) or type(exc).__name__) from exc
        if not isinstance(answers, list) or len(answers) != len(part):
            raise ChainRequestError(f"block timestamps: the node answered {answers!r}")
        for block, answer in zip(part, answers, strict=True):
            times[block] = _timestamp(block, answer)
    return times


def _timestamp(block: int, answer: Any) -> int:
    """The timestamp in the answer to `eth_getBlockByNumber(block)`, checked to be `block`'s."""
    result = answer.get("result") if isinstance(answer, dict) else None
    if not isinstance(result, dict):
        raise ChainRequestError(f"block {block}: the node answered {answer!r}")
    number, stamp = result.get("number"), result.get("timestamp")
    if not isinstance(number, str) or not isinstance(stamp, str) or int(number, 16) != block:
        raise ChainRequestError(f"block {block}: the node answered block {number!r}")
    return int(stamp, 16)
