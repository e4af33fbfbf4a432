"""What the relayer knows of each patient from the registry's logs, so a request needs no view call.

Before this view every relayed revocation read the patient's record and revocation nonce on
chain (two `eth_call`s, ~40% of the relayer's time in `bench/bench_api.py`). `RelayView` follows
the ConsentRegistry's logs instead, reading only their topics (study and patient are indexed, so
no ABI decoding and no block timestamps), and keeps, per (study, patient):

- `RECORDED`: a per-patient record was written (`ConsentGranted` or `ConsentMaterialized`) and
  nothing else happened since: the consent is active and the revocation nonce is 0;
- `IN_BATCH`: granted in a batch of first consents (`FirstConsentGranted`, whose study is named by
  the `ConsentBatchRecorded` log that follows in the same transaction), no record yet: the relayer
  materializes it before revoking, nonce 0;
- `TOUCHED`: anything that can move the revocation nonce or end the consent happened
  (`ConsentRevoked`, `ConsentPurposesRevoked`, `PendingConsentsCancelled`): the relay reads the
  chain as before. A touched patient stays touched.

The revocation nonce moves only in the signed revocation, purpose-withdrawal and cancellation
functions, each of which emits one of the touching events, so an untouched patient's nonce is 0.

The view is a hint, never a guarantee (the contract is): the relay uses it only to *send* (the
contract re-checks deadline, record and signature and skips a bad entry), and every refusal or
"already revoked" answer is taken from fresh chain reads. A stale view therefore costs at most a
skipped batch entry, never a wrong answer. It syncs in the request thread (no thread of its own:
eth-tester is not thread-safe), at most `CHUNK_BLOCKS` blocks a time, and answers nothing (the
relay reads the chain) until it has caught up with the head once. A request for a patient the
view does not know refreshes it when it is `REFRESH_S` old (a new grant is learnt within that); a
request for a known patient only when it is `KNOWN_REFRESH_S` old: what a refresh could change for
them (a touch by someone else) is what the contract catches anyway, and a refresh (a block number
and an `eth_getLogs`) per `REFRESH_S` was ~12% of a lone revocation's relayer CPU (session 8).
Reorganisations are not followed (a dropped log leaves a hint the contract then refuses).
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any, Final, cast

from eth_typing import ABIEvent
from eth_utils.abi import event_abi_to_log_topic
from web3.types import RPCEndpoint

from chain.compile import load_artifact
from chain.connection import Chain
from chain.consent_registry import ConsentRegistry
from consent.ids import Address, StudyId, parse_address

__all__ = [
    "CHUNK_BLOCKS",
    "KNOWN_REFRESH_S",
    "REFRESH_S",
    "ChainClock",
    "PatientState",
    "RelayView",
]

REFRESH_S: Final = 0.25
"""How stale the view may be before a request for a patient it does not know refreshes it."""
KNOWN_REFRESH_S: Final = 2.0
"""How stale the view may be before a request for a patient it knows refreshes it (at least
`REFRESH_S`; a stale hint costs a skipped entry, see the module docstring)."""
_CLOCK_S: Final = 1.0
"""How often `ChainClock` reads the latest block's timestamp."""
CHUNK_BLOCKS: Final = 2_000
"""Blocks read per refresh (eth-tester scans logs block by block; a catch-up is spread out)."""

_GRANTED: Final = ("ConsentGranted", "ConsentMaterialized")
_TOUCHING: Final = ("ConsentRevoked", "ConsentPurposesRevoked", "PendingConsentsCancelled")
_FIRST: Final = "FirstConsentGranted"
_BATCH: Final = "ConsentBatchRecorded"


class PatientState(enum.Enum):
    """What the logs say of one patient in one study (see the module docstring)."""

    RECORDED = "recorded"
    IN_BATCH = "in batch"
    TOUCHED = "touched"


class ChainClock:
    """The chain's time without a block read per request: the latest block's timestamp, read
    at most every `_CLOCK_S`, plus the time elapsed since (a relay check only; the contract
    checks the deadline against its own block time)."""

    def __init__(self, chain: Chain) -> None:
        self._chain = chain
        self._read_at = -_CLOCK_S
        self._timestamp = 0
        self._reading = threading.Lock()

    def now(self) -> int:
        """About the chain's time now (one request reads the block when it is due; the others
        use the last reading meanwhile, except before the first one)."""
        elapsed = time.monotonic() - self._read_at
        if elapsed >= _CLOCK_S and self._reading.acquire(blocking=self._read_at < 0):
            try:
                if time.monotonic() - self._read_at >= _CLOCK_S:
                    self._timestamp, self._read_at = self._chain.block_timestamp(), time.monotonic()
            finally:
                self._reading.release()
            elapsed = time.monotonic() - self._read_at
        return self._timestamp + int(elapsed)


def _topics() -> dict[bytes, str]:
    abi = load_artifact("ConsentRegistry").abi
    wanted = {*_GRANTED, *_TOUCHING, _FIRST, _BATCH}
    return {
        bytes(event_abi_to_log_topic(cast(ABIEvent, entry))): str(entry["name"])
        for entry in abi
        if entry.get("type") == "event" and entry.get("name") in wanted
    }


def _topic(raw: str | bytes) -> bytes:
    """A log topic as bytes (the node's JSON gives hex; eth-tester may give bytes)."""
    return bytes.fromhex(raw[2:]) if isinstance(raw, str) else bytes(raw)


def _address(topic: bytes) -> Address:
    return parse_address("0x" + topic[12:].hex())


class RelayView:
    """Per-(study, patient) state from the registry's log topics (see the module docstring)."""

    def __init__(self, consents: ConsentRegistry, from_block: int) -> None:
        self._consents = consents
        self._registry = consents.chain.w3.to_checksum_address(consents.address)
        self._topics = _topics()
        self._next = from_block
        self._ready = False
        self._refreshed_at = -REFRESH_S
        self._reading = threading.Lock()
        """Held by the one request reading logs (the others use the view as it is)."""
        self._lock = threading.Lock()
        """Held only to change `_states` (a refresh's read logs applied, or a `touch`)."""
        self._states: dict[tuple[bytes, str], PatientState] = {}

    def state(self, study: StudyId, patient: Address) -> PatientState | None:
        """The patient's state, refreshing first when stale; None when the logs name no grant
        of theirs in the study (or the view has not caught up yet): read the chain."""
        key = (bytes(study), patient.lower())
        found = self._states.get(key) if self._ready else None
        self.refresh(REFRESH_S if found is None else max(REFRESH_S, KNOWN_REFRESH_S))
        if not self._ready:
            return None
        return self._states.get(key)

    def refresh(self, max_age: float | None = None) -> None:
        """Read the logs since the last refresh; skipped when younger than `max_age` (default
        `REFRESH_S`), or when another thread is at it and the view has caught up once (before
        that, requests wait for the catch-up). The logs are read and sorted outside `_lock`,
        which is held only to apply them, so a `touch` (every relayed request) never waits for
        an `eth_getLogs`."""
        age = REFRESH_S if max_age is None else max_age
        if time.monotonic() - self._refreshed_at < age:
            return
        if not self._reading.acquire(blocking=not self._ready):
            return  # another request refreshes: use what is there
        try:
            if time.monotonic() - self._refreshed_at < age:
                return  # refreshed by the request this one waited for
            head = self._consents.chain.block_number()
            while self._next <= head:
                last = min(head, self._next + CHUNK_BLOCKS - 1)
                changes = self._changes(self._logs(self._next, last))
                with self._lock:
                    for key, state in changes:
                        self._set(key, state)
                self._next = last + 1
                if not self._ready:
                    break  # catching up: one chunk per request
            self._ready = self._ready or self._next > head
            self._refreshed_at = time.monotonic()
        finally:
            self._reading.release()

    def _logs(self, first: int, last: int) -> list[Mapping[str, Any]]:
        """The registry's raw logs in `first..last`, without `eth.get_logs`' result formatters
        (they checksum every log's address and wrap every field, ~60% of a refresh's CPU, for
        topics this view reads as bytes anyway): on a JSON-RPC node one raw request
        (`Chain.request`: past the attribute-dict middleware too, which wrapped every
        log of a refresh again), on eth-tester through web3's request manager (its provider
        needs the middleware). A node that is down raises `ChainUnavailableError` either way."""
        params = {
            "address": [self._registry],  # a list: web3's request middleware mangles a string
            "fromBlock": hex(first),
            "toBlock": hex(last),
        }  # no topic filter: eth-tester ignores a list of alternatives; `_changes` picks them
        chain = self._consents.chain
        if chain.tester is None:
            return list(chain.request("eth_getLogs", [params]))
        logs = chain.w3.manager.request_blocking(RPCEndpoint("eth_getLogs"), [params])
        return list(logs)

    def _changes(
        self, logs: Sequence[Mapping[str, Any]]
    ) -> list[tuple[tuple[bytes, str], PatientState]]:
        """What `logs` say, in order: ((study, patient lower-case), state) per patient named."""
        changes: list[tuple[tuple[bytes, str], PatientState]] = []
        in_batch: list[Address] = []  # this transaction's first grants, until its batch log
        for log in logs:
            topics = [_topic(t) for t in log["topics"]]
            name = self._topics.get(topics[0]) if topics else None
            if name == _FIRST:
                in_batch.append(_address(topics[1]))
            elif name == _BATCH:
                study = bytes(topics[1])
                changes.extend(((study, p.lower()), PatientState.IN_BATCH) for p in in_batch)
                in_batch = []
            elif name is not None:
                state = PatientState.RECORDED if name in _GRANTED else PatientState.TOUCHED
                changes.append(((bytes(topics[1]), _address(topics[2]).lower()), state))
        return changes

    def touch(self, study: StudyId, patient: Address) -> None:
        """Mark the patient touched now (the relay's own revocation of them, whose log the view
        has not read yet: a repeated request then reads the chain and sends nothing)."""
        with self._lock:
            self._states[(bytes(study), patient.lower())] = PatientState.TOUCHED

    def _set(self, key: tuple[bytes, str], state: PatientState) -> None:
        """Under `_lock`: a touched patient stays touched."""
        if self._states.get(key) is not PatientState.TOUCHED:
            self._states[key] = state
