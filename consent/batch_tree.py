"""The Merkle tree over one consent batch, as `ConsentBatches.sol` builds it on chain.

`ConsentRegistry.grantFirstBatchWithSig` stores one root per batch of first consents. Leaf `i`
is `keccak256(abi.encode(patient, purposes, validFrom, expiresAt))` of the batch's `i`-th grant
(in the order sent, which is ascending by address); each level pairs nodes left to right with
OpenZeppelin's commutative keccak (`keccak256(min(a, b) || max(a, b))`) and moves an odd last
node up unchanged. A proof is the siblings met on the way from a leaf to the root, skipping the
levels where the node had none; OpenZeppelin's `MerkleProof.verifyCalldata` checks it.

Written by hand: the tree must match the contract's in-memory builder bit for bit, and the
OpenZeppelin Merkle tree library for Python-free clients (`@openzeppelin/merkle-tree`) is a
JavaScript package with a different (double-hashed, sorted) leaf layout.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_utils.crypto import keccak

from consent.ids import Address

__all__ = ["BatchLeaf", "batch_proof", "batch_root", "verify_batch_proof"]

_WORD = 32


@dataclass(frozen=True, slots=True)
class BatchLeaf:
    """One patient's first consent in a batch: who, and the terms they signed."""

    patient: Address
    purposes: int
    valid_from: int = 0
    expires_at: int = 0

    def digest(self) -> bytes:
        """`keccak256(abi.encode(patient, purposes, validFrom, expiresAt))`."""
        encoded = bytes.fromhex(self.patient[2:]).rjust(_WORD, b"\0") + b"".join(
            value.to_bytes(_WORD, "big")
            for value in (self.purposes, self.valid_from, self.expires_at)
        )
        return keccak(encoded)


def _pair(a: bytes, b: bytes) -> bytes:
    return keccak(a + b if a < b else b + a)


def _levels(leaves: Sequence[BatchLeaf]) -> list[list[bytes]]:
    if not leaves:
        raise ValueError("a consent batch has at least one leaf")
    level = [leaf.digest() for leaf in leaves]
    levels = [level]
    while len(level) > 1:
        level = [
            _pair(level[i], level[i + 1]) if i + 1 < len(level) else level[i]
            for i in range(0, len(level), 2)
        ]
        levels.append(level)
    return levels


def batch_root(leaves: Sequence[BatchLeaf]) -> bytes:
    """The root the contract stores for a batch of `leaves` (in batch order)."""
    return _levels(leaves)[-1][0]


def batch_proof(leaves: Sequence[BatchLeaf], index: int) -> list[bytes]:
    """The siblings proving `leaves[index]` under `batch_root(leaves)`."""
    if not 0 <= index < len(leaves):
        raise IndexError(f"leaf {index} is not in a batch of {len(leaves)}")
    proof: list[bytes] = []
    for level in _levels(leaves)[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            proof.append(level[sibling])
        index //= 2
    return proof


def verify_batch_proof(root: bytes, leaf: BatchLeaf, proof: Sequence[bytes]) -> bool:
    """Whether `proof` places `leaf` under `root` (as `MerkleProof.verify` decides)."""
    node = leaf.digest()
    for sibling in proof:
        node = _pair(node, sibling)
    return node == root
