"""A secagg study of N hospitals with registered keys and dealt mask keys (real crypto)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from consent.ids import Address, Bytes32, StudyId, parse_address
from consent.sealing import public_key_bytes
from consent.secagg import KeyDeal, RosterEntry, RoundContext, StudyContext, deal_mask_key

STUDY = StudyId(hashlib.sha256(b"secagg-study").digest())


@dataclass(frozen=True)
class Hospital:
    address: Address
    mask_key: X25519PrivateKey
    seal_key: X25519PrivateKey

    @property
    def entry(self) -> RosterEntry:
        return RosterEntry(
            self.address,
            Bytes32(public_key_bytes(self.mask_key)),
            Bytes32(public_key_bytes(self.seal_key)),
        )


@dataclass(frozen=True)
class Study:
    hospitals: tuple[Hospital, ...]
    roster: tuple[RosterEntry, ...]
    key_deals: dict[Address, KeyDeal]
    threshold: int

    def context(self, round_: int = 0) -> RoundContext:
        return RoundContext(STUDY, round_)

    def by_address(self, address: Address) -> Hospital:
        return next(h for h in self.hospitals if h.address == address)


def make_study(n: int, threshold: int) -> Study:
    hospitals = tuple(
        Hospital(
            parse_address("0x" + hashlib.sha256(f"h{i}".encode()).hexdigest()[:40]),
            X25519PrivateKey.generate(),
            X25519PrivateKey.generate(),
        )
        for i in range(n)
    )
    roster = tuple(h.entry for h in hospitals)
    deals = {
        h.address: deal_mask_key(
            StudyContext(STUDY),
            owner=h.address,
            mask_key=h.mask_key,
            roster=roster,
            threshold=threshold,
        )
        for h in hospitals
    }
    return Study(hospitals, roster, deals, threshold)


@pytest.fixture
def study_of() -> Callable[[int, int], Study]:
    return make_study


def subset(items: Sequence[Hospital], drop: int) -> tuple[list[Hospital], list[Hospital]]:
    """Keep all but the last `drop` hospitals (order is already random-looking addresses)."""
    return list(items[: len(items) - drop]), list(items[len(items) - drop :])
