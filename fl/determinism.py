"""Reproducible local training: what makes a hospital's update recomputable bit-for-bit.

An auditor replays a round (`fl.replay`) from the rows a hospital discloses and must get the
exact bytes the hospital sealed. That holds when all of these are the same on both sides:

* the inputs: the round's base model (checked against its on-chain hash), the study plan (its CID
  is on chain: model, training configuration, learner), the disclosed rows in the order the
  hospital trained on them, as float32 (`fl.data` parses every feature and label to float32);
* the seed: `training_seed(plan seed, study, round, hospital)`, a SHA-256 of the study id, the
  round number and the hospital's address, so it needs no local state and no membership list
  (a hospital's position in the list changes when others leave);
* in the dp modes, the DP noise: `noise_seed(secret, study, round, hospital)`, an HMAC-SHA256
  keyed by a 32-byte secret the hospital keeps in its state directory (0600). The noise must be
  unpredictable to everyone else (noise a reader of the plan could regenerate would protect
  nothing), yet reproducible in an audit: the hospital discloses the round's seed (not the
  secret) to the auditor with the round's rows, and `audit replay` then reproduces the exact
  update, so a hospital that trained with less noise than declared is named. What this costs:
  whoever holds a round's seed can subtract that round's noise from the hospital's update, so
  the seed goes only to the auditor, never to the aggregator, and only for the audited rounds;
  a seed of another round (or the secret) is never needed;
* the arithmetic: `torch.use_deterministic_algorithms(True)` and one intra-op thread
  (`deterministic_torch`), so no reduction is split differently on a machine with more cores;
* the build: the same torch version on the same CPU architecture (the project pins
  torch==2.13.0; float kernels are not guaranteed bit-equal across versions or ISAs).

`deterministic_torch` is a context manager rather than process-wide settings because the
embedded mode runs several trainers and the aggregator in one process; a lock makes the sections
mutually exclusive, since torch's thread count and the deterministic flag are global. Among the
threads waiting for it, the lock admits the one with the lowest `training_turn` first (the
embedded study gives each hospital its submission position), so the hospitals of a round train
in the order they submit and none trains while the one before it waits for the lock; that only
orders waiting threads, it never makes one wait for a thread that is not waiting (and it changes
no result: each section is the same computation whoever goes first).
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

import torch

from consent.ids import parse_address

__all__ = [
    "NOISE_SECRET_BYTES",
    "OrderedLock",
    "deterministic_torch",
    "noise_seed",
    "training_seed",
    "training_turn",
]

_SEED_LABEL: Final = b"consentfl/training-seed/v1"
_NOISE_LABEL: Final = b"consentfl/dp-noise-seed/v1"
NOISE_SECRET_BYTES: Final = 32


class OrderedLock:
    """A reentrant lock that admits, among the threads waiting for it, the lowest priority first
    (first come first served among equal priorities). `threading` has no priority lock, hence
    this one: a condition variable over a heap of waiting tickets."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._owner: int | None = None
        self._depth = 0
        self._waiting: list[tuple[int, int]] = []
        self._arrivals = itertools.count()

    @contextmanager
    def held(self, priority: int = 0) -> Iterator[None]:
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth += 1
            else:
                ticket = (priority, next(self._arrivals))
                heapq.heappush(self._waiting, ticket)
                while self._owner is not None or self._waiting[0] != ticket:
                    self._cond.wait()
                heapq.heappop(self._waiting)
                self._owner, self._depth = me, 1
        try:
            yield
        finally:
            with self._cond:
                self._depth -= 1
                if self._depth == 0:
                    self._owner = None
                    self._cond.notify_all()


_LOCK: Final = OrderedLock()
_TURN = threading.local()


@contextmanager
def training_turn(position: int) -> Iterator[None]:
    """Within the block, this thread's `deterministic_torch` sections wait behind those of
    waiting threads with a lower `position` (the embedded study's hospital order)."""
    before = getattr(_TURN, "position", None)
    _TURN.position = position
    try:
        yield
    finally:
        _TURN.position = before


def training_seed(base_seed: int, study: bytes, round_: int, hospital: str) -> int:
    """The shuffling seed of `hospital`'s local step in `round_` of `study` (a 63-bit int)."""
    if base_seed < 0 or round_ < 0:
        raise ValueError("base_seed and round must be >= 0")
    digest = hashlib.sha256(
        _SEED_LABEL
        + bytes(study)
        + round_.to_bytes(8, "big")
        + bytes.fromhex(parse_address(hospital)[2:])
        + base_seed.to_bytes(8, "big")
    ).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def noise_seed(secret: bytes, study: bytes, round_: int, hospital: str) -> int:
    """The DP noise seed of `hospital`'s local step in `round_` of `study` (a 63-bit int),
    keyed by the hospital's noise `secret` (`NOISE_SECRET_BYTES` random bytes)."""
    if len(secret) != NOISE_SECRET_BYTES:
        raise ValueError(f"a noise secret is {NOISE_SECRET_BYTES} bytes, got {len(secret)}")
    if round_ < 0:
        raise ValueError("round must be >= 0")
    message = (
        _NOISE_LABEL
        + bytes(study)
        + round_.to_bytes(8, "big")
        + bytes.fromhex(parse_address(hospital)[2:])
    )
    return int.from_bytes(hmac.digest(secret, message, "sha256")[:8], "big") >> 1


@contextmanager
def deterministic_torch() -> Iterator[None]:
    """Within the block: deterministic algorithms only, one intra-op thread; restored after."""
    position = getattr(_TURN, "position", None)
    with _LOCK.held(0 if position is None else position):
        threads = torch.get_num_threads()
        was_deterministic = torch.are_deterministic_algorithms_enabled()
        torch.set_num_threads(1)
        torch.use_deterministic_algorithms(True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(was_deterministic)
            torch.set_num_threads(threads)
