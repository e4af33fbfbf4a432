"""keccak-256 for the hot paths: safe-pysha3's C implementation, eth-hash's as a fallback.

eth-hash's `auto` backend picks pycryptodome when both are installed, and pycryptodome builds a
cffi state object per hash (`Crypto.Hash.keccak.new`, `__init__`, `update`, `digest`, `__del__`):
~36 us a 64-byte hash here against ~3 us for safe-pysha3's `keccak_256`, and a relayed
revocation hashed ~5 times on this path (EIP-712 struct and digest, the recovered signer's
address, the receipt, the transaction), ~7% of the relayer's profiled CPU (session 11).
safe-pysha3 is a dependency (`eth-hash[pysha3]`); the same bytes either way
(`tests/unit/consent/test_keccak.py` checks it against eth-hash on random inputs).
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["keccak256"]

keccak256: Callable[[bytes], bytes]
try:
    from eth_hash.backends.pysha3 import keccak256
except ImportError:  # pragma: no cover - depends on the installed backends
    from eth_hash.auto import keccak as keccak256
