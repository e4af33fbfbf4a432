"""Sorted Merkle commitments over patient addresses, verifiable with OpenZeppelin `MerkleProof`.

A hospital commits to exactly the patients it trained on with `DataTree.build(patients).root`
(`dataRoot` on chain). Leaves are the distinct patients in ascending address order, framed by two
sentinels so that absence is provable anywhere, including below the smallest and above the largest
patient:

    index 0        address(0)          (sentinel)
    index 1..n     the patients, ascending by integer value
    index n + 1    0xFFFF...FF         (sentinel)

    leaf(index, patient) = keccak256(keccak256(abi.encode(uint256 index, address patient)))

The double hash is OpenZeppelin's StandardMerkleTree convention: a 64-byte inner node can never be
passed off as a leaf. Inner nodes hash their children as a sorted pair (OpenZeppelin's commutative
`_hashPair`), so a proof is just the list of siblings and `MerkleProof.verify` accepts it. The tree
is built level by level; a level with an odd number of nodes promotes its last node unchanged, which
`MerkleProof.verify` handles since a proof simply has no sibling for that level.

A non-membership proof is two membership proofs of adjacent indices whose addresses bracket the
absent patient. It is sound for a tree built by this module (sorted, one leaf per index); an auditor
holding the full patient list can rebuild the tree and compare roots to rule out a malformed one.
"""

from __future__ import annotations

import bisect
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from eth_utils.address import to_checksum_address

from consent.errors import (
    MalformedProofError,
    PatientInTreeError,
    PatientNotInTreeError,
    ReservedAddressError,
)
from consent.ids import Address, Bytes32, InvalidIdentifierError, parse_address, parse_bytes32

__all__ = [
    "MAX_SENTINEL",
    "MIN_SENTINEL",
    "DataTree",
    "MembershipProof",
    "NonMembershipProof",
    "hash_pair",
    "leaf_hash",
    "verify_membership",
    "verify_non_membership",
]

logger = logging.getLogger(__name__)

_keccak: Callable[[bytes], bytes]
try:  # safe-pysha3 hashes ~7x faster than eth-hash's default pycryptodome backend
    from eth_hash.backends.pysha3 import keccak256 as _keccak
except ImportError:  # pragma: no cover - depends on the installed backends
    from eth_utils.crypto import keccak as _keccak

MIN_SENTINEL = Address(to_checksum_address(b"\x00" * 20))
MAX_SENTINEL = Address(to_checksum_address(b"\xff" * 20))
_ADDRESS_PAD = bytes(12)


_ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")


def _address_bytes(address: str) -> bytes:
    """The 20 raw bytes of a 0x-prefixed address in any case (cheaper than checksumming)."""
    if not isinstance(address, str) or not _ADDRESS_RE.match(address):
        raise InvalidIdentifierError(f"not an Ethereum address: {address!r}")
    return bytes.fromhex(address[2:])


def _leaf(index: int, key: bytes) -> Bytes32:
    # abi.encode(uint256, address) of two static values is two 32-byte big-endian words; it is
    # written out because eth_abi.encode costs ~15 us a call (a test pins the equivalence).
    return Bytes32(_keccak(_keccak(index.to_bytes(32, "big") + _ADDRESS_PAD + key)))


def leaf_hash(index: int, patient: str) -> Bytes32:
    """`keccak256(bytes.concat(keccak256(abi.encode(index, patient))))`, as on chain."""
    return _leaf(index, _address_bytes(patient))


def hash_pair(a: bytes, b: bytes) -> Bytes32:
    """OpenZeppelin's commutative pair hash: keccak256 of the two nodes in ascending order."""
    return Bytes32(_keccak(a + b) if a < b else _keccak(b + a))


@dataclass(frozen=True, slots=True)
class MembershipProof:
    """`patient` sits at leaf `index`; `siblings` is the OpenZeppelin proof, leaf to root."""

    index: int
    patient: Address
    siblings: tuple[Bytes32, ...]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: hex strings for the address and siblings."""
        return {
            "index": self.index,
            "patient": self.patient,
            "siblings": ["0x" + s.hex() for s in self.siblings],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MembershipProof:
        """Parse `to_json` output; raises `MalformedProofError` on any deviation."""
        try:
            index = data["index"]
            siblings = data["siblings"]
            if type(index) is not int or index < 0 or not isinstance(siblings, list):
                raise MalformedProofError(f"bad index or siblings in proof: {dict(data)!r}")
            return cls(
                index=index,
                patient=parse_address(data["patient"]),
                siblings=tuple(parse_bytes32(s) for s in siblings),
            )
        except (KeyError, TypeError, InvalidIdentifierError) as exc:
            raise MalformedProofError(f"malformed membership proof: {exc}") from exc


@dataclass(frozen=True, slots=True)
class NonMembershipProof:
    """Two adjacent leaves whose addresses bracket an absent patient."""

    left: MembershipProof
    right: MembershipProof

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict with the two membership proofs."""
        return {"left": self.left.to_json(), "right": self.right.to_json()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> NonMembershipProof:
        """Parse `to_json` output; raises `MalformedProofError` on any deviation."""
        try:
            left, right = data["left"], data["right"]
        except (KeyError, TypeError) as exc:
            raise MalformedProofError(f"malformed non-membership proof: {exc}") from exc
        if not isinstance(left, Mapping) or not isinstance(right, Mapping):
            raise MalformedProofError("non-membership proof halves must be objects")
        return cls(left=MembershipProof.from_json(left), right=MembershipProof.from_json(right))


def _process_proof(leaf: bytes, siblings: Iterable[bytes]) -> bytes:
    node = leaf
    for sibling in siblings:
        node = hash_pair(node, sibling)
    return node


def verify_membership(root: bytes, proof: MembershipProof) -> bool:
    """Whether `proof` shows `proof.patient` at `proof.index` under `root` (MerkleProof.verify)."""
    return _process_proof(leaf_hash(proof.index, proof.patient), proof.siblings) == root


def verify_non_membership(root: bytes, patient: str, proof: NonMembershipProof) -> bool:
    """Whether `proof` shows that `patient` is not a leaf of the sorted tree with `root`."""

    def value(address: str) -> int:
        return int.from_bytes(_address_bytes(address), "big")

    return (
        proof.right.index == proof.left.index + 1
        and value(proof.left.patient) < value(patient) < value(proof.right.patient)
        and verify_membership(root, proof.left)
        and verify_membership(root, proof.right)
    )


class DataTree:
    """The sorted Merkle tree over a set of patients (build it with `DataTree.build`)."""

    __slots__ = ("_keys", "_levels")

    def __init__(self, keys: tuple[bytes, ...], levels: tuple[tuple[Bytes32, ...], ...]) -> None:
        """Internal: use `DataTree.build`. `keys`: sorted raw addresses, sentinels included."""
        self._keys = keys
        self._levels = levels

    @classmethod
    def build(cls, patients: Iterable[str]) -> DataTree:
        """The tree over the distinct `patients` (any address case; duplicates collapse).

        Raises `ReservedAddressError` for a sentinel address and `InvalidIdentifierError` for a
        malformed one.
        """
        raw = {_address_bytes(patient) for patient in patients}
        for sentinel in (MIN_SENTINEL, MAX_SENTINEL):
            if _address_bytes(sentinel) in raw:
                raise ReservedAddressError(sentinel)
        keys = (b"\x00" * 20, *sorted(raw), b"\xff" * 20)
        level = tuple(_leaf(i, key) for i, key in enumerate(keys))
        levels = [level]
        while len(level) > 1:
            paired = [hash_pair(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            if len(level) % 2:
                paired.append(level[-1])
            level = tuple(paired)
            levels.append(level)
        logger.debug("built a data tree over %d patients", len(keys) - 2)
        return cls(keys, tuple(levels))

    @property
    def root(self) -> Bytes32:
        """The 32-byte root (`dataRoot`)."""
        return self._levels[-1][0]

    @property
    def patients(self) -> tuple[Address, ...]:
        """The patients in ascending order, without the sentinels."""
        return tuple(Address(to_checksum_address(key)) for key in self._keys[1:-1])

    def __len__(self) -> int:
        """The number of patients (sentinels not counted)."""
        return len(self._keys) - 2

    def __contains__(self, patient: object) -> bool:
        """Whether `patient` (an address string) is one of the tree's patients."""
        if not isinstance(patient, str):
            return False
        try:
            position = self._position(_address_bytes(patient))
        except InvalidIdentifierError:
            return False
        return position is not None and 0 < position < len(self._keys) - 1

    def _position(self, key: bytes) -> int | None:
        i = bisect.bisect_left(self._keys, key)
        return i if i < len(self._keys) and self._keys[i] == key else None

    def _proof_at(self, index: int) -> MembershipProof:
        siblings: list[Bytes32] = []
        position = index
        for level in self._levels[:-1]:
            sibling = position ^ 1
            if sibling < len(level):
                siblings.append(level[sibling])
            position //= 2
        patient = Address(to_checksum_address(self._keys[index]))
        return MembershipProof(index, patient, tuple(siblings))

    def membership_proof(self, patient: str) -> MembershipProof:
        """The proof that `patient` is in the tree; raises `PatientNotInTreeError` otherwise."""
        key = _address_bytes(patient)
        position = self._position(key)
        if position is None or position in (0, len(self._keys) - 1):
            raise PatientNotInTreeError(parse_address(patient))
        return self._proof_at(position)

    def non_membership_proof(self, patient: str) -> NonMembershipProof:
        """The proof that `patient` is absent; raises `PatientInTreeError` if it is present."""
        key = _address_bytes(patient)
        if self._position(key) is not None:
            raise PatientInTreeError(parse_address(patient))
        right = bisect.bisect_left(self._keys, key)
        return NonMembershipProof(self._proof_at(right - 1), self._proof_at(right))
