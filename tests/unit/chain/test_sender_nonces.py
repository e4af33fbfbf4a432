"""A nonce-counting Sender (the relayer's): several transactions sent before any receipt is read,
and a send the node refuses (another writer used the key) re-reads the count."""

from __future__ import annotations

import pytest
from eth_account import Account

from chain.errors import ChainRequestError
from chain.events import PendingConsentsCancelled
from chain.transactions import Sender
from tests.fixtures.ledger import LedgerWorld

GAS = 90_000


def test_transactions_sent_back_to_back_take_consecutive_nonces(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    account = world.patients[0]
    sender = Sender.from_key(world.chain, account.key, manage_nonces=True)
    consents = world.coordinator.with_sender(sender).consents
    start = world.chain.w3.eth.get_transaction_count(account.address)
    pending = [consents._send(GAS, "cancelPendingConsents", bytes(world.study)) for _ in range(3)]
    receipts = [consents._wait(p) for p in pending]  # read only after all three were sent
    assert [r["status"] for r in receipts] == [1, 1, 1]
    nonces = [world.chain.w3.eth.get_transaction(p.tx_hash)["nonce"] for p in pending]
    assert nonces == [start, start + 1, start + 2]
    events = [consents._single_event(r, PendingConsentsCancelled) for r in receipts]
    assert [e.next_grant_nonce for e in events] == [1, 2, 3]


def test_a_refused_send_re_reads_the_nonce_from_the_node(eth_tester_ledger: LedgerWorld) -> None:
    world = eth_tester_ledger
    account = world.patients[1]
    counting = world.coordinator.with_sender(
        Sender.from_key(world.chain, account.key, manage_nonces=True)
    ).consents
    other = world.coordinator.with_sender(Sender.from_key(world.chain, account.key)).consents
    counting.cancel_pending(world.study)  # the counter now expects the next nonce
    other.cancel_pending(world.study)  # another writer with the same key takes it
    event = counting.cancel_pending(world.study)  # refused as too low, recounted, resent once
    assert event.next_grant_nonce == 3
    nonce = world.chain.w3.eth.get_transaction(event.tx_hash)["nonce"]
    assert nonce == world.chain.w3.eth.get_transaction_count(account.address) - 1


def test_a_send_refused_for_another_reason_is_raised_and_recounted(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    poor = Account.create()  # no ether: every send is refused, whatever the nonce
    counting = world.coordinator.with_sender(
        Sender.from_key(world.chain, poor.key, manage_nonces=True)
    ).consents
    with pytest.raises(ChainRequestError):
        counting.cancel_pending(world.study)
    with pytest.raises(ChainRequestError):
        counting.cancel_pending(world.study)
