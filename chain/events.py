"""Typed ledger events decoded from contract logs.

Consent events come out as `consent.events.ConsentGranted` / `ConsentRevoked`, the types the
consent index consumes; study, membership and relay events are the dataclasses below; the
RoundLedger's logs are decoded in their own modules (`chain.round_events`,
`chain.contributions_events`, `chain.rollback_events`, like `chain.consent_batch_events`) and
re-exported here. `EventDecoder` only finds a log's builder and dispatches to it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, Final, cast

from eth_utils.abi import function_signature_to_4byte_selector
from hexbytes import HexBytes
from web3.contract.contract import Contract
from web3.exceptions import BlockNotFound
from web3.types import LogReceipt

from chain.connection import Chain
from chain.consent_batch_events import BATCH_RECORDED, FIRST_CONSENT, BatchGrants
from chain.contributions_events import CONTRIBUTIONS_BUILDERS, ContributionsRecorded
from chain.event_args import Builder, b32, study_arg
from chain.event_codec import EventCodec
from chain.rollback_events import ROLLBACK_BUILDERS, RollbackRecorded
from chain.round_events import ROUND_BUILDERS, RoundFinalized, RoundOpened, UpdateSubmitted
from chain.tx_wire import request
from consent.events import ConsentGranted, ConsentRevoked, EventPosition, PurposesRevoked
from consent.ids import Address, Bytes32, StudyId, parse_address
from consent.purposes import StudyPurpose

__all__ = [
    "ContributionsRecorded",
    "CoordinatorChanged",
    "EventDecoder",
    "HospitalAdded",
    "HospitalRemoved",
    "LedgerEvent",
    "PendingConsentsCancelled",
    "RevocationSkipped",
    "RollbackRecorded",
    "RoundFinalized",
    "RoundOpened",
    "StudyCreated",
    "StudyPurposeDeclared",
    "UpdateSubmitted",
]


@dataclass(frozen=True, slots=True)
class StudyCreated:
    """A study was created; `coordinator` created it."""

    study: StudyId
    coordinator: Address
    aggregator: Address
    aggregator_seal_key: Bytes32
    min_updates: int
    metadata_cid: str
    position: EventPosition
    tx_hash: str


@dataclass(frozen=True, slots=True)
class StudyPurposeDeclared:
    """The coordinator declared the study's DUO research purpose."""

    study: StudyId
    purpose: StudyPurpose
    position: EventPosition
    tx_hash: str


@dataclass(frozen=True, slots=True)
class HospitalAdded:
    """A hospital joined a study."""

    study: StudyId
    hospital: Address
    position: EventPosition
    tx_hash: str


@dataclass(frozen=True, slots=True)
class HospitalRemoved:
    """A hospital left a study."""

    study: StudyId
    hospital: Address
    position: EventPosition
    tx_hash: str


@dataclass(frozen=True, slots=True)
class PendingConsentsCancelled:
    """A patient cancelled their consent signatures not yet submitted (grant nonces below
    `next_grant_nonce` are dead)."""

    study: StudyId
    patient: Address
    next_grant_nonce: int
    position: EventPosition
    tx_hash: str


@dataclass(frozen=True, slots=True)
class RevocationSkipped:
    """`revokeBatchWithSig` left one entry out; `reason` names the error `revokeWithSig` would
    have raised (`SignatureExpired`, `NoActiveConsent` or `InvalidSigner`). Nothing changed."""

    study: StudyId
    patient: Address
    reason: str
    position: EventPosition
    tx_hash: str


@dataclass(frozen=True, slots=True)
class CoordinatorChanged:
    """The admin handed a study to another coordinator."""

    study: StudyId
    previous: Address
    coordinator: Address
    position: EventPosition
    tx_hash: str


LedgerEvent = (
    StudyCreated
    | HospitalAdded
    | HospitalRemoved
    | ConsentGranted
    | ConsentRevoked
    | PurposesRevoked
    | StudyPurposeDeclared
    | RoundOpened
    | UpdateSubmitted
    | RoundFinalized
    | PendingConsentsCancelled
    | RevocationSkipped
    | CoordinatorChanged
    | ContributionsRecorded
    | RollbackRecorded
)


def _purpose(mask: int) -> StudyPurpose:
    purpose = StudyPurpose.from_mask(mask)
    assert purpose is not None  # the contract refuses to declare 0
    return purpose


_SKIP_REASONS: Final = {
    function_signature_to_4byte_selector(signature): signature.split("(")[0]
    for signature in (
        "SignatureExpired(uint64,uint256)",
        "NoActiveConsent(bytes32,address)",
        "InvalidSigner(address,address)",
    )
}


def _skip_reason(selector: bytes) -> str:
    return _SKIP_REASONS.get(selector, "0x" + selector.hex())


_STUDY_AND_CONSENT_BUILDERS: Final[dict[str, Builder[LedgerEvent]]] = {
    "StudyCreated": lambda a, p, h, _t: StudyCreated(
        study_arg(a),
        parse_address(a["coordinator"]),
        parse_address(a["aggregator"]),
        b32(a["aggregatorSealKey"]),
        int(a["minUpdates"]),
        str(a["metadataCid"]),
        p,
        h,
    ),
    "HospitalAdded": lambda a, p, h, _t: HospitalAdded(
        study_arg(a), parse_address(a["hospital"]), p, h
    ),
    "HospitalRemoved": lambda a, p, h, _t: HospitalRemoved(
        study_arg(a), parse_address(a["hospital"]), p, h
    ),
    "ConsentGranted": lambda a, p, h, t: ConsentGranted(
        study=study_arg(a, "study"),
        patient=parse_address(a["patient"]),
        hospital=parse_address(a["hospital"]),
        expires_at=int(a["expiresAt"]),
        nonce=int(a["nonce"]),
        position=p,
        tx_hash=h,
        block_timestamp=t(),
        purposes=int(a["purposes"]),
        valid_from=int(a["validFrom"]),
    ),
    "ConsentPurposesRevoked": lambda a, p, h, t: PurposesRevoked(
        study=study_arg(a, "study"),
        patient=parse_address(a["patient"]),
        hospital=parse_address(a["hospital"]),
        revoked=int(a["revoked"]),
        remaining=int(a["remaining"]),
        position=p,
        tx_hash=h,
        block_timestamp=t(),
    ),
    "StudyPurposeDeclared": lambda a, p, h, _t: StudyPurposeDeclared(
        study_arg(a), _purpose(int(a["purpose"])), p, h
    ),
    "ConsentRevoked": lambda a, p, h, t: ConsentRevoked(
        study=study_arg(a, "study"),
        patient=parse_address(a["patient"]),
        hospital=parse_address(a["hospital"]),
        position=p,
        tx_hash=h,
        block_timestamp=t(),
    ),
    "PendingConsentsCancelled": lambda a, p, h, _t: PendingConsentsCancelled(
        study_arg(a, "study"), parse_address(a["patient"]), int(a["nextGrantNonce"]), p, h
    ),
    "RevocationSkipped": lambda a, p, h, _t: RevocationSkipped(
        study_arg(a, "study"), parse_address(a["patient"]), _skip_reason(bytes(a["reason"])), p, h
    ),
    "CoordinatorChanged": lambda a, p, h, _t: CoordinatorChanged(
        study_arg(a), parse_address(a["previous"]), parse_address(a["coordinator"]), p, h
    ),
}

_BUILDERS: Final[Mapping[str, Builder[LedgerEvent]]] = {
    **_STUDY_AND_CONSENT_BUILDERS,
    **ROUND_BUILDERS,
    **CONTRIBUTIONS_BUILDERS,
    **ROLLBACK_BUILDERS,
}
_DECODED: Final = frozenset(_BUILDERS) | {FIRST_CONSENT, BATCH_RECORDED}
_TIMESTAMPS_KEPT: Final = 1024
"""Block timestamps remembered per decoder (least recently used dropped first)."""


class EventDecoder:
    """Decodes logs of the contracts into typed events.

    Each log is decoded by its event's cached `EventCodec` (eth_abi directly, shaped as web3's
    `process_log` answers, see `chain.event_codec`). A block's timestamp is asked of the node
    (`eth_getBlockByHash`, one raw request on a JSON-RPC node) only for an event that carries
    one (consent events), at most once per block while it stays among the last
    `_TIMESTAMPS_KEPT` blocks asked: events of one receipt or one `eth_getLogs` answer share it.
    """

    def __init__(self, chain: Chain, contracts: Iterable[Contract]) -> None:
        self._chain = chain
        self._by_topic: dict[tuple[str, bytes], EventCodec] = {}
        for contract in contracts:
            for entry in cast(list[dict[str, Any]], contract.abi):
                if entry.get("type") == "event" and entry["name"] in _DECODED:
                    event = EventCodec.of(entry)
                    self._by_topic[(contract.address.lower(), event.topic)] = event
        self._timestamps: OrderedDict[bytes, int] = OrderedDict()

    def timestamp(self, block_hash: bytes) -> int:
        """Unix timestamp of the block with `block_hash`, cached (by hash: safe across reorgs
        and snapshot reverts)."""
        cached = self._timestamps.get(block_hash)
        if cached is None:
            cached = self._block_timestamp(block_hash)
            self._timestamps[block_hash] = cached
            if len(self._timestamps) > _TIMESTAMPS_KEPT:
                self._timestamps.popitem(last=False)
        else:
            self._timestamps.move_to_end(block_hash)
        return cached

    def remember_timestamp(self, block_hash: bytes, timestamp: int) -> None:
        """Cache the timestamp a receipt gave for its block (`tx_wire.light_receipt`'s
        `blockTimestamp`): its events then need no `eth_getBlockByHash` (one RPC per relayed
        batch, ~6% of a relayed revocation's profiled CPU)."""
        self._timestamps[block_hash] = timestamp
        self._timestamps.move_to_end(block_hash)
        if len(self._timestamps) > _TIMESTAMPS_KEPT:
            self._timestamps.popitem(last=False)

    def _block_timestamp(self, block_hash: bytes) -> int:
        if self._chain.tester is not None:
            return int(self._chain.w3.eth.get_block(HexBytes(block_hash))["timestamp"])
        block = request(
            self._chain, "eth_getBlockByHash", [HexBytes(block_hash).to_0x_hex(), False]
        )
        if block is None:
            raise BlockNotFound(f"no block {HexBytes(block_hash).to_0x_hex()}")
        return int(block["timestamp"], 16)

    def _known(self, log: LogReceipt) -> EventCodec | None:
        if not log["topics"]:
            return None
        # keyed by the lower-case address: no checksum (a keccak) per log
        return self._by_topic.get((str(log["address"]).lower(), bytes(log["topics"][0])))

    def _build(self, event: EventCodec, log: LogReceipt) -> LedgerEvent:
        name = event.name
        data = event.decode(log)
        position = EventPosition(int(data["blockNumber"]), int(data["logIndex"]))
        tx_hash = HexBytes(data["transactionHash"]).to_0x_hex()
        timestamp = partial(self.timestamp, bytes(data["blockHash"]))
        return _BUILDERS[name](data["args"], position, tx_hash, timestamp)

    def decode(self, log: LogReceipt) -> LedgerEvent | None:
        """The typed event for `log`; None if not ours (or a batch patient's: see `decode_all`)."""
        known = self._known(log)
        return None if known is None or known.name not in _BUILDERS else self._build(known, log)

    def decode_all(self, logs: Iterable[LogReceipt]) -> list[LedgerEvent]:
        """The typed events among `logs`, in order; a consent batch's per-patient logs become
        `ConsentGranted` events (`chain.consent_batch_events`)."""
        events: list[LedgerEvent] = []
        batch = BatchGrants()
        for log in logs:
            known = self._known(log)
            if known is None:
                continue
            if known.name == FIRST_CONSENT:
                batch.add(log)
            elif known.name == BATCH_RECORDED:
                data = known.decode(log)
                events.extend(batch.close(data, self.timestamp(bytes(data["blockHash"]))))
            else:
                events.append(self._build(known, log))
        batch.check_done()
        return events
