"""ChainConsentView: incremental sync into the consent index, by filter (eth-tester) or ranges."""

from __future__ import annotations

import numpy as np
import pytest

from chain.consent_view import ChainConsentView
from consent.errors import UnknownPatientError
from consent.index import ConsentIndex
from tests.fixtures.ledger import LedgerWorld


@pytest.mark.parametrize("use_filter", [True, False])
def test_sync_applies_grants_and_revocations_incrementally_and_matches_the_contract(
    eth_tester_ledger: LedgerWorld, use_filter: bool
) -> None:
    world = eth_tester_ledger
    world.grant(0)  # before the view exists: caught up from the deployment block
    view = ChainConsentView(
        world.hospitals[0].consents,
        ConsentIndex(":memory:"),
        from_block=world.manifest.deploy_block,
        max_range=3,
        use_filter=use_filter,
    )
    world.grant(1)
    world.grant(2, hospital=1)
    first = view.sync()
    world.as_sender(world.patients[1]).consents.revoke(world.study)
    world.grant(3)
    second = view.sync()

    patients = [world.patient(i) for i in range(4)]
    assert view.index.synced_block == second > first
    assert view.consented_mask(world.study, patients, first).tolist() == [True] * 3 + [False]
    assert view.consented_mask(world.study, patients, second).tolist() == [True, False, True, True]
    on_chain = world.coordinator.consents.status_batch(world.study, patients)
    assert np.array_equal(view.consented_mask(world.study, patients, second), on_chain)
    assert view.sync() == second  # nothing new: idempotent
    with pytest.raises(UnknownPatientError):
        view.consented_mask(world.study, [world.patient(5)], second)


@pytest.mark.parametrize("use_filter", [True, False])
def test_sync_at_returns_the_synced_block_with_its_timestamp_from_one_head_read(
    eth_tester_ledger: LedgerWorld, use_filter: bool
) -> None:
    world = eth_tester_ledger
    view = ChainConsentView(
        world.hospitals[0].consents,
        ConsentIndex(":memory:"),
        from_block=world.manifest.deploy_block,
        use_filter=use_filter,
    )
    world.grant(0)
    chain = world.hospitals[0].consents.chain

    block, timestamp = view.sync_at()

    assert block == chain.block_number() == view.index.synced_block
    assert timestamp == chain.block_timestamp(block)
    patients = [world.patient(0)]
    assert view.consented_mask(world.study, patients, block).tolist() == [True]
    world.grant(1)
    later, _ = view.sync_at()
    assert later > block
    assert view.sync() == later  # nothing new since: the same block
