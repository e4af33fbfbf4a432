"""Consent events of one deployment read once for the consent views of one process (issue 19).

Every hospital's `chain.consent_view.ChainConsentView` keeps its own index and reads the head
itself on every sync (its freshness is its own), but the hospitals of one process (the embedded
study) ask a JSON-RPC node for the same `eth_getLogs` ranges: stepped at once, they sync to the
same head within milliseconds. A `ConsentLogFeed` shared by their views fetches each block range
once and answers the others from what it fetched:

* a request `(start, end)` inside the kept range is answered from it; a request that starts
  inside it (or right after it) and ends later fetches only the blocks after the kept range;
  any other request is fetched whole and replaces the kept range;
* the kept range's lower end moves up to the latest request's start, so the feed holds about
  one sync's worth of events, not the deployment's history (a view that is further behind
  fetches its own range: an extra request, never a missing event);
* a block range, once fetched up to a head the node reported, does not change (the same
  assumption the index makes when it marks a block synced).

Thread-safe: the views of the embedded study sync from one thread per hospital.
"""

from __future__ import annotations

import threading
from typing import Final

from chain.consent_registry import ConsentRegistry
from consent.events import ConsentEvent

__all__ = ["ConsentLogFeed"]

DEFAULT_RANGE: Final = 2_000
"""Blocks per `eth_getLogs` call."""


class ConsentLogFeed:
    """The `ConsentRegistry`'s consent events by block range, each range fetched once."""

    def __init__(self, consents: ConsentRegistry, *, max_range: int = DEFAULT_RANGE) -> None:
        self._consents = consents
        self._max_range = max_range
        self._lock = threading.Lock()
        self._low = 0
        self._high = -1
        """The kept range `[low, high]` (empty while high < low)."""
        self._events: list[ConsentEvent] = []
        self.fetches = 0
        """`eth_getLogs` requests made (for tests and the benchmarks)."""

    def events(self, start: int, end: int) -> list[ConsentEvent]:
        """The consent events of blocks `start..end`, in chain order."""
        if end < start:
            return []
        with self._lock:
            if self._low <= start <= self._high + 1:
                if end > self._high:
                    self._events += self._fetch(self._high + 1, end)
                    self._high = end
            else:
                self._events, self._high = self._fetch(start, end), end
            self._low = start
            self._events = [e for e in self._events if e.position.block_number >= start]
            return [e for e in self._events if e.position.block_number <= end]

    def _fetch(self, start: int, end: int) -> list[ConsentEvent]:
        events: list[ConsentEvent] = []
        for low in range(start, end + 1, self._max_range):
            high = min(low + self._max_range - 1, end)
            events.extend(self._consents.consent_events(low, high))
            self.fetches += 1
        return events
