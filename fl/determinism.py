"""Reproducible local training: what makes a hospital's update recomputable bit-for-bit.

An auditor replays a round (`fl.replay`) from the rows a hospital discloses and must get the
exact bytes the hospital sealed. That holds when all of these are the same on both sides:

* the inputs: the round's base model (checked against its on-chain hash), the study plan (its CID
  is on chain: model, training configuration, learner), the disclosed rows in the order the
  hospital trained on them, as float32 (`fl.data` parses every feature and label to float32);
* the seed: `training_seed(plan seed, study, round, hospital)`, a SHA-256 of the study id, the
  round number and the hospital's address, so it needs no local state and no membership list
  (a hospital's position in the list changes when others leave);
* the arithmetic: `torch.use_deterministic_algorithms(True)` and one intra-op thread
  (`deterministic_torch`), so no reduction is split differently on a machine with more cores;
* the build: the same torch version on the same CPU architecture (the project pins
  torch==2.13.0; float kernels are not guaranteed bit-equal across versions or ISAs).

`deterministic_torch` is a context manager rather than process-wide settings because the
embedded mode runs several trainers and the aggregator in one process; a lock makes the sections
mutually exclusive, since torch's thread count and the deterministic flag are global.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

import torch

from consent.ids import parse_address

__all__ = ["deterministic_torch", "training_seed"]

_SEED_LABEL: Final = b"consentfl/training-seed/v1"
_LOCK: Final = threading.RLock()


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


@contextmanager
def deterministic_torch() -> Iterator[None]:
    """Within the block: deterministic algorithms only, one intra-op thread; restored after."""
    with _LOCK:
        threads = torch.get_num_threads()
        was_deterministic = torch.are_deterministic_algorithms_enabled()
        torch.set_num_threads(1)
        torch.use_deterministic_algorithms(True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(was_deterministic)
            torch.set_num_threads(threads)
