"""A hospital's consent index kept in step with the ConsentRegistry's events.

`sync()` applies every `ConsentGranted` / `ConsentRevoked` event up to the latest block into the
persisted `consent.index.ConsentIndex` and marks that block synced, so the next run only reads the
new blocks. Two ways to read events (see the field notes in DESIGN.md):

* JSON-RPC nodes (anvil, geth): `eth_getLogs` over bounded ranges from `synced_block + 1`.
* eth-tester: its log look-up scans block by block and a long range costs seconds, so the view
  creates a log filter when it is constructed and reads only the filter's changes afterwards
  (events from before the filter are caught up once, in bounded ranges).

It satisfies `fl.ports.ConsentViewPort` structurally: the trainer selects its rows and builds its
exclusion proofs through it, and the SQLite index stays behind it (`index` is exposed for closing).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt
from eth_typing import HexStr
from web3.exceptions import Web3Exception
from web3.types import LogReceipt

from chain.compile import load_artifact
from chain.consent_feed import DEFAULT_RANGE, ConsentLogFeed
from chain.consent_registry import ConsentRegistry
from chain.errors import ChainRequestError
from chain.events import EventDecoder
from consent.events import ConsentEvent, ConsentGranted, ConsentRevoked, PurposesRevoked
from consent.ids import Address, StudyId
from consent.index import ConsentIndex, ConsentMask
from consent.purposes import StudyPurpose

__all__ = ["ChainConsentView"]

logger = logging.getLogger(__name__)


class ChainConsentView:
    """Consent events of one deployment, applied incrementally into `index`."""

    def __init__(
        self,
        consents: ConsentRegistry,
        index: ConsentIndex,
        *,
        from_block: int,
        max_range: int = DEFAULT_RANGE,
        use_filter: bool | None = None,
        feed: ConsentLogFeed | None = None,
    ) -> None:
        """`from_block`: the deployment's first block (nothing before it is read); `feed`: the
        log ranges shared with the other views of this process (`chain.consent_feed`), for a
        view that reads ranges (not a filter)."""
        self._consents = consents
        self._feed = feed
        self._index = index
        self._from_block = from_block
        self._max_range = max_range
        chain = consents.chain
        contract = chain.w3.eth.contract(
            address=chain.w3.to_checksum_address(consents.address),
            abi=list(load_artifact(ConsentRegistry.CONTRACT).abi),
        )
        self._decoder = EventDecoder(chain, [contract])
        self._pending: list[ConsentEvent] = []
        self._filter_id: HexStr | None = None
        self._filter_start = 0
        if chain.ephemeral if use_filter is None else use_filter:
            self._filter_start = chain.block_number() + 1
            created = chain.w3.eth.filter(
                {"fromBlock": self._filter_start, "address": contract.address}
            )
            self._filter_id = HexStr(str(created.filter_id))

    @property
    def index(self) -> ConsentIndex:
        """The index this view keeps synced."""
        return self._index

    def _next_block(self) -> int:
        return max(self._index.synced_block + 1, self._from_block)

    def sync(self) -> int:
        """Apply every consent event up to the latest block; returns that block.

        Raises `ChainUnavailableError` when the node is down (from the connection), and
        `ChainRequestError` when it answers the log query with an error.
        """
        return self.sync_at()[0]

    def sync_at(self) -> tuple[int, int]:
        """`sync`, returning the latest block with its timestamp: both come from the one
        head read (`eth_getBlockByNumber("latest")`) the sync makes anyway, so a trainer needs
        no second request for the timestamp (`fl.ports.HeadedConsentViewPort`)."""
        try:
            head = self._consents.chain.w3.eth.get_block("latest")
            latest, timestamp = int(head["number"]), int(head["timestamp"])
            if self._filter_id is None:
                events = self._ranged(self._next_block(), latest)
            else:
                events = self._from_filter(latest)
        except Web3Exception as exc:
            raise ChainRequestError(f"consent events: {exc}") from exc
        if latest > self._index.synced_block:
            applied = self._index.apply(events, synced_through=latest)
            if applied:
                logger.info("consent index: %d new events through block %d", applied, latest)
        return latest, timestamp

    def _ranged(self, start: int, end: int) -> list[ConsentEvent]:
        if self._feed is not None:
            return self._feed.events(start, end)
        events: list[ConsentEvent] = []
        for low in range(start, end + 1, self._max_range):
            high = min(low + self._max_range - 1, end)
            events.extend(self._consents.consent_events(low, high))
        return events

    def _from_filter(self, latest: int) -> list[ConsentEvent]:
        assert self._filter_id is not None
        start = self._next_block()
        backlog = self._ranged(start, min(latest, self._filter_start - 1))
        logs: list[LogReceipt] = self._consents.chain.w3.eth.get_filter_changes(self._filter_id)
        self._pending.extend(
            e
            for e in self._decoder.decode_all(logs)
            if isinstance(e, ConsentGranted | ConsentRevoked | PurposesRevoked)
        )
        ready = [e for e in self._pending if start <= e.position.block_number <= latest]
        self._pending = [e for e in self._pending if e.position.block_number > latest]
        return backlog + sorted(ready, key=lambda e: e.position)

    def mask(
        self,
        study: StudyId,
        patients: Sequence[Address],
        block: int,
        block_timestamp: int,
        purpose: StudyPurpose | None = None,
    ) -> ConsentMask:
        """Per patient, consent at `block` (covering `purpose`, when given) and whether it is
        unknown in `study` (the index must be synced through `block`)."""
        rows = self._index.resolve(patients)
        return self._index.mask(study, rows, block, block_timestamp, purpose)

    def consented_mask(
        self, study: StudyId, patients: Sequence[Address], block: int
    ) -> npt.NDArray[np.bool_]:
        """For each patient, whether consent counts at `block` (unknown patients raise
        `consent.errors.UnknownPatientError`); the index must be synced through `block`."""
        timestamp = self._consents.chain.block_timestamp(block)
        return self._index.consented_at(study, patients, block, timestamp)

    def patients(self, study: StudyId, hospital: str) -> tuple[Address, ...]:
        """Patients whose consent record in `study` is with `hospital`."""
        return self._index.patients(study, hospital)

    def history(self, study: StudyId, patient: str) -> list[ConsentEvent]:
        """Every consent event of `patient` in `study`, oldest first."""
        return self._index.history(study, patient)

    def histories(
        self, study: StudyId, patients: Iterable[str]
    ) -> dict[Address, list[ConsentEvent]]:
        """`history` of each of `patients` (an empty list without events), in one read."""
        return self._index.histories(study, patients)

    def revoked_since(self, study: StudyId, hospital: str, block: int) -> tuple[Address, ...]:
        """`hospital`'s patients with a revocation or a withdrawal of purposes after `block`."""
        return self._index.revoked_since(study, hospital, block)
