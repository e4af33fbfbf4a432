"""Every consent event of a deployment, kept in an in-memory consent index and synced on demand.

The HTTP API answers "what happened to my consent" with each grant and revocation (block, tx hash,
time). Asking the node for one patient's logs over the whole chain is slow on eth-tester (its log
look-up scans block by block), so this keeps `consent.index.ConsentIndex` in memory and applies
only the blocks that arrived since the last question, in bounded ranges.
"""

from __future__ import annotations

import logging
import threading
from typing import Final

from chain.consent_registry import ConsentRegistry
from consent.events import ConsentEvent
from consent.ids import StudyId
from consent.index import ConsentIndex

__all__ = ["ConsentHistory"]

logger = logging.getLogger(__name__)

_SYNC_CHUNK: Final = 2_000


class ConsentHistory:
    """Consent events of one ConsentRegistry since `from_block`, queried per patient."""

    def __init__(self, consents: ConsentRegistry, from_block: int) -> None:
        self._consents = consents
        self._from_block = from_block
        self._index = ConsentIndex(":memory:")
        self._lock = threading.Lock()

    def close(self) -> None:
        """Release the in-memory index."""
        self._index.close()

    def sync(self) -> int:
        """Apply every event up to the latest block; returns that block.

        Raises `ChainUnavailableError` when the node does not answer.
        """
        with self._lock:
            latest = self._consents.chain.block_number()
            start = max(self._index.synced_block + 1, self._from_block)
            while start <= latest:
                end = min(start + _SYNC_CHUNK - 1, latest)
                events = self._consents.consent_events(start, end)
                self._index.apply(events, synced_through=end)
                start = end + 1
            return latest

    def history(self, study: StudyId, patient: str) -> list[ConsentEvent]:
        """The patient's grants and revocations in `study`, oldest first (after a sync)."""
        self.sync()
        return self._index.history(study, patient)
