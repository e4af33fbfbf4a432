"""chain.consent_feed: one process's consent views share their log ranges, each fetched once."""

from __future__ import annotations

from typing import Any, cast

from chain.consent_feed import ConsentLogFeed
from chain.consent_registry import ConsentRegistry
from chain.consent_view import ChainConsentView
from consent.index import ConsentIndex
from tests.fixtures.ledger import LedgerWorld


class _Block:
    def __init__(self, number: int) -> None:
        self.block_number = number


class _Event:
    def __init__(self, number: int) -> None:
        self.position = _Block(number)


class _Registry:
    """An event per block; records every range asked for."""

    def __init__(self) -> None:
        self.asked: list[tuple[int, int]] = []

    def consent_events(self, start: int, end: int) -> list[Any]:
        self.asked.append((start, end))
        return [_Event(n) for n in range(start, end + 1)]


def _feed(max_range: int = 100) -> tuple[ConsentLogFeed, _Registry]:
    registry = _Registry()
    return ConsentLogFeed(cast(ConsentRegistry, registry), max_range=max_range), registry


def _blocks(events: list[Any]) -> list[int]:
    return [e.position.block_number for e in events]


def test_views_asking_the_same_range_cost_one_fetch() -> None:
    feed, registry = _feed()
    for _ in range(3):  # three hospitals syncing to the same head
        assert _blocks(feed.events(10, 14)) == [10, 11, 12, 13, 14]
    assert registry.asked == [(10, 14)]


def test_a_later_head_fetches_only_the_new_blocks_and_every_event_is_answered() -> None:
    feed, registry = _feed()
    assert _blocks(feed.events(10, 14)) == list(range(10, 15))
    assert _blocks(feed.events(10, 16)) == list(range(10, 17))  # a view still synced to 9
    assert _blocks(feed.events(15, 17)) == [15, 16, 17]  # a view synced to 14
    assert registry.asked == [(10, 14), (15, 16), (17, 17)]


def test_a_view_further_behind_than_the_kept_range_fetches_its_own_range() -> None:
    feed, registry = _feed()
    feed.events(10, 14)
    feed.events(15, 20)  # the kept range moved up to 15..20
    assert _blocks(feed.events(3, 20)) == list(range(3, 21))  # never a missing event
    assert registry.asked[-1] == (3, 20)
    assert feed.events(21, 20) == []


def test_long_ranges_are_fetched_in_bounded_chunks() -> None:
    feed, registry = _feed(max_range=4)
    assert _blocks(feed.events(0, 9)) == list(range(10))
    assert registry.asked == [(0, 3), (4, 7), (8, 9)]
    assert feed.fetches == 3


def test_views_sharing_a_feed_sync_the_same_events_as_a_view_on_its_own(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    feed = ConsentLogFeed(world.coordinator.consents, max_range=3)

    def view(k: int, shared: ConsentLogFeed | None) -> ChainConsentView:
        return ChainConsentView(
            world.hospitals[k].consents,
            ConsentIndex(":memory:"),
            from_block=world.manifest.deploy_block,
            use_filter=False,
            feed=shared,
        )

    shared, other, alone = view(0, feed), view(1, feed), view(0, None)
    world.grant(0)
    world.grant(1, hospital=1)
    shared.sync()
    world.as_sender(world.patients[0]).consents.revoke(world.study)
    block = shared.sync()
    assert other.sync() == block == alone.sync()

    patients = [world.patient(i) for i in range(2)]
    for v in (shared, other, alone):
        assert v.consented_mask(world.study, patients, block).tolist() == [False, True]
    assert shared.history(world.study, patients[0]) == alone.history(world.study, patients[0])
