"""`chain.tx_wire`: the hand-written EIP-1559 signing held against eth_account (the oracle)."""

from __future__ import annotations

import random
from typing import Any, cast

import pytest
from coincurve import PrivateKey
from eth_account import Account
from eth_utils.address import to_checksum_address
from hexbytes import HexBytes

from chain.connection import Chain
from chain.tx_wire import light_receipt, sends_sync, sign_dynamic_fee


@pytest.mark.parametrize("seed", range(40))
def test_signing_matches_eth_account_byte_for_byte(seed: int) -> None:
    rng = random.Random(seed)
    key = rng.randbytes(32)
    to = rng.randbytes(20)
    tx: dict[str, int | bytes] = {
        "chainId": rng.choice([1, 31337, 131277322940537]),
        "nonce": rng.choice([0, 1, rng.randrange(2**40)]),
        "maxPriorityFeePerGas": rng.choice([0, 10**9]),
        "maxFeePerGas": rng.randrange(10**9, 10**12),
        "gas": rng.randrange(21_000, 30_000_000),
        "to": to,
        "value": rng.choice([0, rng.randrange(10**18)]),
        "data": rng.randbytes(rng.choice([0, 4, 68, 1000])),
    }
    raw, tx_hash = sign_dynamic_fee(PrivateKey(key), tx)

    oracle = Account.from_key(key).sign_transaction(
        {**tx, "to": to_checksum_address(to), "data": HexBytes(tx["data"]), "type": 2}
    )
    assert raw == bytes(oracle.raw_transaction)
    assert tx_hash == bytes(oracle.hash)
    assert Account.recover_transaction(raw) == Account.from_key(key).address


def test_light_receipt_types_fields_as_web3_does() -> None:
    address = "0x" + "ab" * 20
    raw = {
        "status": "0x1",
        "gasUsed": "0x5208",
        "blockNumber": "0x10",
        "blockHash": "0x" + "11" * 32,
        "transactionHash": "0x" + "22" * 32,
        "contractAddress": None,
        "logs": [
            {
                "address": address,
                "topics": ["0x" + "33" * 32],
                "data": "0x",
                "logIndex": "0x2",
                "transactionIndex": "0x0",
                "transactionHash": "0x" + "22" * 32,
                "blockHash": "0x" + "11" * 32,
                "blockNumber": "0x10",
                "removed": False,
            }
        ],
    }
    receipt = light_receipt(raw)
    assert receipt["status"] == 1
    assert receipt["gasUsed"] == 21000
    assert receipt["blockNumber"] == 16
    assert receipt["transactionHash"] == HexBytes("0x" + "22" * 32)
    assert receipt["contractAddress"] is None
    (log,) = receipt["logs"]
    assert log["address"] == to_checksum_address(address)
    assert log["topics"] == [HexBytes("0x" + "33" * 32)]
    assert type(log["topics"][0]) is HexBytes
    assert log["data"] == HexBytes(b"")
    assert (log["logIndex"], log["blockNumber"]) == (2, 16)
    created = light_receipt({**raw, "contractAddress": address, "logs": []})
    assert created["contractAddress"] == to_checksum_address(address)


@pytest.mark.parametrize("seed", range(20))
def test_light_receipt_checksums_any_case_as_eth_utils(seed: int) -> None:
    rng = random.Random(seed)
    raw_address = "0x" + rng.randbytes(20).hex()
    spelled = rng.choice([raw_address, raw_address.upper().replace("0X", "0x"),
                          to_checksum_address(raw_address), raw_address[2:]])  # fmt: skip
    log = {
        "address": spelled,
        "topics": [],
        "data": "0x",
        "logIndex": "0x0",
        "transactionIndex": "0x0",
        "transactionHash": "0x" + "22" * 32,
        "blockHash": "0x" + "11" * 32,
        "blockNumber": "0x1",
    }
    raw = {
        "status": "0x1",
        "gasUsed": "0x1",
        "blockNumber": "0x1",
        "blockHash": "0x" + "11" * 32,
        "transactionHash": "0x" + "22" * 32,
        "contractAddress": spelled,
        "logs": [log],
    }
    receipt = light_receipt(raw)
    assert receipt["logs"][0]["address"] == to_checksum_address(spelled)
    assert receipt["contractAddress"] == to_checksum_address(spelled)


def test_light_receipt_rejects_what_eth_utils_rejects() -> None:
    raw = {
        "status": "0x1",
        "gasUsed": "0x1",
        "blockNumber": "0x1",
        "blockHash": "0x" + "11" * 32,
        "transactionHash": "0x" + "22" * 32,
        "contractAddress": "0x1234",
        "logs": [],
    }
    with pytest.raises(ValueError, match="Unknown format '0x1234'"):
        to_checksum_address("0x1234")
    with pytest.raises(ValueError, match="Unknown format '0x1234'"):
        light_receipt(raw)


@pytest.mark.parametrize(("given", "kept"), [(1796291962, 1796291962), ("0x10", 16), (None, None)])
def test_light_receipt_keeps_the_block_timestamp_the_node_gave(given: Any, kept: Any) -> None:
    raw = {"status": "0x1", "gasUsed": "0x1", "blockNumber": "0x1", "blockHash": "0x" + "11" * 32,
           "transactionHash": "0x" + "22" * 32, "contractAddress": None, "logs": []}  # fmt: skip
    if given is not None:
        raw["blockTimestamp"] = given  # anvil: a JSON number; the spec's hex quantity too
    assert cast(dict[str, Any], light_receipt(raw)).get("blockTimestamp") == kept


class _Node:
    """A fake node answering `anvil_getAutomine` (unit test: no chain), counting the asks."""

    def __init__(self, answer: dict[str, Any]) -> None:
        self.w3 = self  # the connection key of `sends_sync`'s memory
        self.answer = answer
        self.asked: list[str] = []

    def raw_request(self, method: str, params: Any) -> dict[str, Any]:
        self.asked.append(method)
        return {"jsonrpc": "2.0", "id": 1, **self.answer}


@pytest.mark.parametrize(
    ("answer", "sync"),
    [
        ({"result": True}, True),  # anvil, automining
        ({"result": False}, False),  # anvil mining on an interval
        ({"error": {"code": -32601, "message": "Method not found"}}, False),  # geth, a chain
    ],
    ids=["automine", "interval", "not-anvil"],
)
def test_only_an_automining_anvil_sends_sync_asked_once(answer: dict[str, Any], sync: bool) -> None:
    node = _Node(answer)
    chain = cast(Chain, node)
    assert sends_sync(chain) is sync
    assert sends_sync(chain) is sync
    assert node.asked == ["anvil_getAutomine"]
