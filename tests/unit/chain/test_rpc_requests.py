"""Requests per operation: a view is one `eth_call`, an unlocked transaction asks for no fee
estimate, and events decoded from one receipt share their block's timestamp request."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from chain.connection import Chain
from chain.consent_registry import SignedConsent
from chain.errors import NoActiveConsentError
from chain.events import ConsentGranted, EventDecoder, RoundOpened
from consent.ids import Bytes32
from tests.fixtures.ledger import DEADLINE, LedgerWorld

FEE_ESTIMATES = {"eth_maxPriorityFeePerGas", "eth_feeHistory", "eth_gasPrice"}


@pytest.fixture
def asked(eth_tester_ledger: LedgerWorld) -> Iterator[Counter[str]]:
    """JSON-RPC methods that reach the chain's provider while the test runs."""
    seen: Counter[str] = Counter()
    provider = eth_tester_ledger.chain.w3.provider
    inner = provider.make_request

    def counted(method: Any, params: Any) -> Any:
        seen[str(method)] += 1
        return inner(method, params)

    provider.make_request = counted  # type: ignore[method-assign]
    provider._request_func_cache = (None, None)  # type: ignore[assignment]
    eth_tester_ledger.chain.w3.eth.chain_id  # noqa: B018 - the rebuilt middleware caches it again
    seen.clear()
    try:
        yield seen
    finally:
        provider.make_request = inner  # type: ignore[method-assign]
        provider._request_func_cache = (None, None)  # type: ignore[assignment]


def test_a_view_is_one_eth_call(eth_tester_ledger: LedgerWorld, asked: Counter[str]) -> None:
    world = eth_tester_ledger
    world.outsider.rounds.round_count(world.study)
    world.outsider.studies.get_study(world.study)

    assert asked == {"eth_call": 2}


def test_an_unlocked_sender_asks_for_no_fee_estimate(
    eth_tester_ledger: LedgerWorld, asked: Counter[str]
) -> None:
    world = eth_tester_ledger
    rounds = world.aggregator.rounds
    rounds.open_round(world.study, 0, Bytes32(b"\x01" * 32), "bafkreibase")
    world.grant(5, 0)

    assert not FEE_ESTIMATES & set(asked)
    assert asked["eth_sendTransaction"] == 2
    assert asked["eth_getBlockByNumber"] <= 1  # one base fee a second for all its senders


def test_a_locally_signed_call_is_mined_and_its_revert_replayed_to_the_custom_error(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    world.grant(5, 0)
    patient = world.as_sender(world.patients[5])  # signs locally: the raw-transaction path

    revoked = patient.consents.revoke(world.study)
    with pytest.raises(NoActiveConsentError):  # mined with status 0, replayed as an eth_call
        patient.consents.revoke(world.study)

    assert revoked.patient == world.patient(5)
    assert not world.outsider.consents.is_consented(world.study, world.patient(5))


def _decoder(chain: Chain, world: LedgerWorld) -> EventDecoder:
    contracts = [world.coordinator.consents._contract, world.coordinator.rounds._contract]
    return EventDecoder(chain, contracts)


def test_events_of_one_receipt_share_one_block_request(
    eth_tester_ledger: LedgerWorld, asked: Counter[str]
) -> None:
    world = eth_tester_ledger
    patients = [world.patient(i) for i in range(3)]
    hospital = world.hospitals[0]
    signed = [
        SignedConsent(p, 0, world.consent_sig(i, hospital), DEADLINE)
        for i, p in enumerate(patients)
    ]
    (batch,) = hospital.consents.grant_first_batch(world.study, signed)
    receipt = world.chain.w3.eth.get_transaction_receipt(batch.granted[0].tx_hash)
    asked.clear()

    events = _decoder(world.chain, world).decode_all(receipt["logs"])

    assert [type(e) for e in events] == [ConsentGranted] * 3
    assert len({e.block_timestamp for e in events}) == 1
    assert asked == {"eth_getBlockByHash": 1}


def test_round_events_ask_for_no_block_at_all(
    eth_tester_ledger: LedgerWorld, asked: Counter[str]
) -> None:
    world = eth_tester_ledger
    opened = world.aggregator.rounds.open_round(
        world.study, 0, Bytes32(b"\x01" * 32), "bafkreibase"
    )
    receipt = world.chain.w3.eth.get_transaction_receipt(opened.tx_hash)
    asked.clear()

    events = _decoder(world.chain, world).decode_all(receipt["logs"])

    assert [type(e) for e in events] == [RoundOpened]
    assert asked == Counter()
