"""`consent.keccak`: the fast keccak-256 gives eth-hash's bytes (the oracle) on random inputs."""

from __future__ import annotations

import random

import pytest
from eth_hash.auto import keccak as oracle
from eth_hash.backends.pycryptodome import keccak256 as pycryptodome_keccak

from consent.keccak import keccak256


@pytest.mark.parametrize("seed", range(20))
def test_keccak256_matches_eth_hash(seed: int) -> None:
    rng = random.Random(seed)
    for size in (0, 1, 20, 31, 32, 33, 64, 65, 135, 136, 137, 272, rng.randrange(2000)):
        data = rng.randbytes(size)
        assert keccak256(data) == oracle(data) == pycryptodome_keccak(data)


def test_keccak256_of_nothing_is_the_known_constant() -> None:
    assert keccak256(b"").hex() == (
        "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    )
