"""Consent events as the domain sees them, decoded from `ConsentGranted` / `ConsentRevoked` logs.

`chain/` produces these from contract logs; the consent index in `consent/` consumes them, so the
index never needs web3.
"""

from __future__ import annotations

from dataclasses import dataclass

from consent.ids import Address, StudyId

__all__ = [
    "ConsentEvent",
    "ConsentGranted",
    "ConsentRevoked",
    "EventPosition",
    "PurposesRevoked",
]


@dataclass(frozen=True, order=True, slots=True)
class EventPosition:
    """Where a log sits in the chain; orders events totally."""

    block_number: int
    log_index: int


@dataclass(frozen=True, slots=True)
class ConsentGranted:
    """A patient's signed consent was recorded for `hospital` in `study`."""

    study: StudyId
    patient: Address
    hospital: Address
    expires_at: int  # unix seconds; 0 means no expiry
    nonce: int
    position: EventPosition
    tx_hash: str
    block_timestamp: int
    purposes: int = 1
    """DUO purposes mask (`consent.purposes.ConsentScope.from_mask`); 1 is GRU, the default of
    events built by hand (the contract always logs the mask). Not imported from
    `consent.purposes`: its errors import this module."""
    valid_from: int = 0  # unix seconds; 0 means from the grant


@dataclass(frozen=True, slots=True)
class ConsentRevoked:
    """A patient revoked their consent in `study` (it had been given to `hospital`)."""

    study: StudyId
    patient: Address
    hospital: Address
    position: EventPosition
    tx_hash: str
    block_timestamp: int


@dataclass(frozen=True, slots=True)
class PurposesRevoked:
    """A patient withdrew `revoked` purposes of their consent in `study`; `remaining` are still
    granted (both DUO masks, `consent.purposes`). Withdrawing the last purpose is a
    `ConsentRevoked` instead."""

    study: StudyId
    patient: Address
    hospital: Address
    revoked: int
    remaining: int
    position: EventPosition
    tx_hash: str
    block_timestamp: int


ConsentEvent = ConsentGranted | ConsentRevoked | PurposesRevoked
