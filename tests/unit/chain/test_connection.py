"""Requests saved: the chain id asked once, views made with an explicit caller."""

from __future__ import annotations

from typing import Any, cast

import pytest
from web3 import Web3
from web3.types import RPCEndpoint, RPCResponse

from chain.connection import ChainIdCache
from chain.errors import BlockNotFoundError
from tests.fixtures.ledger import LedgerWorld


def _node(answers: list[dict[str, Any]]) -> tuple[list[str], Any]:
    asked: list[str] = []

    def make_request(method: RPCEndpoint, params: Any) -> RPCResponse:
        asked.append(method)
        return cast(RPCResponse, answers.pop(0))

    return asked, make_request


def test_chain_id_is_asked_of_the_node_once_and_other_methods_every_time() -> None:
    asked, node = _node(
        [{"jsonrpc": "2.0", "id": 0, "result": "0x7a69"}]
        + [{"jsonrpc": "2.0", "id": i, "result": hex(i)} for i in range(1, 3)]
    )
    request = ChainIdCache(Web3()).wrap_make_request(node)

    answers = [request(RPCEndpoint("eth_chainId"), []) for _ in range(3)]
    request(RPCEndpoint("eth_blockNumber"), [])
    request(RPCEndpoint("eth_blockNumber"), [])

    assert [a["result"] for a in answers] == ["0x7a69"] * 3
    assert asked == ["eth_chainId", "eth_blockNumber", "eth_blockNumber"]


def test_a_failed_chain_id_answer_is_not_cached() -> None:
    asked, node = _node(
        [
            {"jsonrpc": "2.0", "id": 0, "error": {"code": -32000, "message": "down"}},
            {"jsonrpc": "2.0", "id": 1, "result": "0x1"},
        ]
    )
    request = ChainIdCache(Web3()).wrap_make_request(node)

    first = request(RPCEndpoint("eth_chainId"), [])
    second = request(RPCEndpoint("eth_chainId"), [])

    assert "error" in first
    assert second["result"] == "0x1"
    assert asked == ["eth_chainId", "eth_chainId"]


def test_views_do_not_make_the_node_look_up_a_default_account(
    eth_tester_ledger: LedgerWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = eth_tester_ledger
    tester = world.chain.tester
    assert tester is not None
    lookups: list[int] = []
    real = tester.get_accounts

    def counted() -> Any:
        lookups.append(1)
        return real()

    monkeypatch.setattr(tester, "get_accounts", counted)

    members = world.hospitals[0].studies.hospitals(world.study)
    count = world.outsider.rounds.round_count(world.study)

    assert len(members) == 2
    assert count == 0
    assert lookups == []


def test_block_timestamps_on_eth_tester_are_web3s_block_by_block(
    eth_tester_ledger: LedgerWorld,
) -> None:
    chain = eth_tester_ledger.chain
    chain.advance_time(7)
    chain.advance_time(7)
    head = chain.block_number()
    blocks = [head, 0, head - 1, head, head - 2]
    expected = {b: chain.block_timestamp(b) for b in blocks}

    assert chain.block_timestamps(blocks) == expected
    assert len(set(expected.values())) >= 3
    assert chain.block_timestamps([]) == {}


def test_a_block_eth_tester_does_not_have_is_block_not_found(
    eth_tester_ledger: LedgerWorld,
) -> None:
    chain = eth_tester_ledger.chain
    head = chain.block_number()

    with pytest.raises(BlockNotFoundError, match=f"no block {head + 1000}"):
        chain.block_timestamps([head, head + 1000])
