"""The consent index, synced from the contract's own events, agrees with the contract's views."""

from __future__ import annotations

from consent.index import ConsentIndex
from tests.fixtures.ledger import LedgerWorld, sender_of


def test_index_synced_from_chain_events_agrees_with_contract_at_every_block(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    chain, consents = world.chain, world.coordinator.consents
    start = chain.block_number()
    world.grant(0)
    world.grant(1, hospital=1)
    world.grant(2, expires_at=chain.block_timestamp() + 1_000)
    world.grant(3)
    world.as_sender(world.patients[0]).consents.revoke(world.study)
    world.grant(0)  # re-grant after revocation
    world.as_sender(world.patients[3]).consents.revoke(world.study)
    chain.advance_time(5_000)  # patient 2's consent expires
    head = chain.block_number()
    patients = [world.patient(i) for i in range(4)]

    with ConsentIndex(":memory:") as index:
        index.apply(consents.consent_events(start + 1, start + 4), synced_through=start + 4)
        index.apply(consents.consent_events(start + 5, head), synced_through=head)
        for block in range(start + 1, head + 1):
            expected = consents.status_batch(world.study, patients, block)
            mask = index.consented_at(world.study, patients, block, chain.block_timestamp(block))
            assert mask.tolist() == expected, block
        assert mask.tolist() == [True, True, False, False]
        for patient in patients:
            record = consents.record(world.study, patient)
            status = index.status(world.study, patient)
            assert status.hospital == record.hospital
            assert status.granted_block == record.granted_block
            assert (status.revoked_block or 0) == record.revoked_block
            assert status.expires_at == record.expires_at
        hospital = sender_of(world.hospitals[0])
        last_revocation = consents.last_revocation_block(world.study, hospital)
        assert index.revoked_since(world.study, hospital, last_revocation - 1) == (patients[3],)
        assert index.revoked_since(world.study, hospital, last_revocation) == ()
