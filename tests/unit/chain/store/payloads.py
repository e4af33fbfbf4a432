"""Deterministic test payloads for the store tests (unit and integration)."""

import hashlib
import random

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

from chain.store.dag import CHUNK_SIZE, MAX_LINKS

SIZES = {
    "empty": 0,
    "one byte": 1,
    "one chunk": CHUNK_SIZE,
    "one chunk plus one": CHUNK_SIZE + 1,
    "three MB": 3 * 1000 * 1000,
}
LARGE_SIZES = {
    "174 chunks": MAX_LINKS * CHUNK_SIZE,
    "175 chunks": (MAX_LINKS + 1) * CHUNK_SIZE,
}


def payload(size: int, seed: int = 0) -> bytes:
    """Deterministic incompressible bytes."""
    return random.Random(seed).randbytes(size)


def chacha_vector(size: int) -> bytes:
    """Kubo's test vector input: ChaCha20 keystream, key sha256(b"chunk-v0-seed"), zero nonce."""
    key = hashlib.sha256(b"chunk-v0-seed").digest()
    return Cipher(algorithms.ChaCha20(key, bytes(16)), mode=None).encryptor().update(bytes(size))
