"""Sparse Merkle tree over patient addresses: `dataRoot` and its position-bound proofs.

A hospital commits to the patients it trained on with `DataTree.build(patients).root`. The tree
is keyed by address: depth 160, the path of patient `p` is the bits of `p` from the most
significant (0 = left). Hash: keccak256, as `RoundLedger.verifyDataMembership` computes it (the
EVM's native hash; SHA-256 is a precompile call, ~3x the gas per node)::

    EMPTY            = bytes32(0)                                  an empty subtree, any depth
    leaf(p)          = keccak256(0x00 || p)                        (21 bytes)
    inner(l, r)      = keccak256(0x01 || l || r)                   (65 bytes)

A subtree holding exactly one patient is that patient's leaf, whatever its depth (the chain of
single-child nodes is collapsed), so a set of n random addresses costs about 2n hashes to build
instead of 160n, and a proof holds about log2(n) siblings.

A proof for key `k` (`SmtProof`) names the node met at `depth` on k's path (`k`'s own leaf; an
empty subtree; or the leaf of `occupant`, another patient whose first `depth` bits equal k's)
and the siblings from there up to the root, compactly: bit `j` of `bitmap` is set when the
sibling at depth `j + 1` is not EMPTY, and only those siblings are listed, deepest first.

Soundness, for any root, however it was built (a dishonest hospital chooses the root freely):
no one can give both a membership and a non-membership proof of the same key `k` for the same
root without finding a keccak256 collision or a preimage of zero. The verifier derives the path
from `k` itself, so every proof for `k` walks the same positions: proof P1 (membership, depth
d1) and P2 (non-membership, depth d2) each fix a node value at every depth <= d_i on k's path,
both equal to the root at depth 0. Going down, a node above d_i is an `inner` output, so equal
parents with different children would be a collision: the two proofs agree on every node down
to m = min(d1, d2). At depth m, P1 says leaf(k) or an `inner` output, P2 says EMPTY, leaf(k')
with k' != k, or an `inner` output, and they cannot say the same thing unless leaf(k) =
leaf(k') (a collision), an output equals zero (a preimage of zero) or a 21-byte and a 65-byte
input hash alike (a collision; the 0x00/0x01 prefixes separate the domains as well). So absence
is bound to the key's position: the sorted tree this replaces let a builder who misordered its
leaves "prove" the absence of a patient it contained (issue 11, H2). An empty set has root
EMPTY; `RoundLedger` refuses a zero `dataRoot`, so every committed update names at least one
patient.
"""

from __future__ import annotations

import bisect
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from eth_utils.address import to_checksum_address

from consent.errors import (
    MalformedProofError,
    PatientInTreeError,
    PatientNotInTreeError,
    ReservedAddressError,
)
from consent.ids import Address, Bytes32, InvalidIdentifierError, parse_address, parse_bytes32

__all__ = [
    "DEPTH",
    "EMPTY",
    "DataTree",
    "SmtProof",
    "inner_hash",
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

DEPTH: Final = 160
EMPTY: Final = Bytes32(bytes(32))
_ZERO_ADDRESS: Final = Address(to_checksum_address(bytes(20)))
_ADDRESS_RE: Final = re.compile(r"^0x[0-9a-fA-F]{40}$")


def _key(address: str) -> int:
    if not isinstance(address, str) or not _ADDRESS_RE.match(address):
        raise InvalidIdentifierError(f"not an Ethereum address: {address!r}")
    return int(address[2:], 16)


def _leaf(key: int) -> Bytes32:
    return Bytes32(_keccak(b"\x00" + key.to_bytes(20, "big")))


def leaf_hash(patient: str) -> Bytes32:
    """`keccak256(abi.encodePacked(bytes1(0x00), patient))`, as on chain."""
    return _leaf(_key(patient))


def inner_hash(left: bytes, right: bytes) -> Bytes32:
    """`keccak256(abi.encodePacked(bytes1(0x01), left, right))`, as on chain."""
    return Bytes32(_keccak(b"\x01" + left + right))


def _bit(key: int, depth: int) -> int:
    """The branch taken below the node at `depth` on `key`'s path (0 left, 1 right)."""
    return (key >> (DEPTH - 1 - depth)) & 1


@dataclass(frozen=True, slots=True)
class SmtProof:
    """The node at `depth` on `patient`'s path, and the non-empty siblings up to the root.

    `occupant` is None for a membership proof or an empty subtree, else the patient whose leaf
    occupies the subtree (a non-membership proof). `siblings` are listed deepest first.
    """

    patient: Address
    depth: int
    bitmap: int
    siblings: tuple[Bytes32, ...]
    occupant: Address | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (bitmap as a 0x hex string)."""
        return {
            "patient": self.patient,
            "depth": self.depth,
            "bitmap": hex(self.bitmap),
            "siblings": ["0x" + bytes(s).hex() for s in self.siblings],
            "occupant": self.occupant,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SmtProof:
        """Parse `to_json` output; raises `MalformedProofError` on any deviation."""
        try:
            depth, bitmap, siblings = data["depth"], data["bitmap"], data["siblings"]
            if type(depth) is not int or not 0 <= depth <= DEPTH:
                raise MalformedProofError(f"bad depth in proof: {depth!r}")
            if not isinstance(bitmap, str) or not re.fullmatch(r"0x[0-9a-fA-F]{1,40}", bitmap):
                raise MalformedProofError(f"bad bitmap in proof: {bitmap!r}")
            if not isinstance(siblings, list):
                raise MalformedProofError("proof siblings must be a list")
            occupant = data.get("occupant")
            return cls(
                patient=parse_address(data["patient"]),
                depth=depth,
                bitmap=int(bitmap, 16),
                siblings=tuple(parse_bytes32(s) for s in siblings),
                occupant=None if occupant is None else parse_address(occupant),
            )
        except (KeyError, TypeError, InvalidIdentifierError) as exc:
            raise MalformedProofError(f"malformed sparse Merkle proof: {exc}") from exc

    def size_bytes(self) -> int:
        """Bytes on the wire in ABI-free packed form: depth, 20-byte bitmap, siblings, occupant."""
        return 1 + 20 + 32 * len(self.siblings) + (20 if self.occupant is not None else 0)


def _root_from(node: bytes, key: int, proof: SmtProof) -> bytes | None:
    """The root reached from `node` at `proof.depth` on `key`'s path; None if malformed."""
    if not 0 <= proof.depth <= DEPTH or proof.bitmap >> proof.depth:
        return None
    if bin(proof.bitmap).count("1") != len(proof.siblings):
        return None
    siblings = iter(proof.siblings)
    for depth in range(proof.depth - 1, -1, -1):
        sibling = next(siblings) if (proof.bitmap >> depth) & 1 else EMPTY
        node = inner_hash(node, sibling) if _bit(key, depth) == 0 else inner_hash(sibling, node)
    return node


def verify_membership(root: bytes, patient: str, proof: SmtProof) -> bool:
    """Whether `proof` shows `patient` under `root` (as `RoundLedger.verifyDataMembership`)."""
    key = _key(patient)
    if proof.occupant is not None or _key(proof.patient) != key:
        return False
    return _root_from(_leaf(key), key, proof) == bytes(root)


def verify_non_membership(root: bytes, patient: str, proof: SmtProof) -> bool:
    """Whether `proof` shows `patient` absent from `root` (`verifyDataNonMembership`)."""
    key = _key(patient)
    if _key(proof.patient) != key or not 0 <= proof.depth <= DEPTH:
        return False
    start: bytes = EMPTY
    if proof.occupant is not None:
        other = _key(proof.occupant)
        if other == key or (other ^ key) >> (DEPTH - proof.depth):
            return False
        start = _leaf(other)
    return _root_from(start, key, proof) == bytes(root)


class DataTree:
    """The sparse Merkle tree over a set of patients (build it with `DataTree.build`).

    Keeps the sorted keys and the hash of every node with two non-empty children (n - 1 of
    them); any other node is recomputed from those on demand.
    """

    __slots__ = ("_branches", "_keys", "_root")

    def __init__(self, keys: list[int], branches: dict[int, Bytes32], root: Bytes32) -> None:
        """Internal: use `DataTree.build`."""
        self._keys = keys
        self._branches = branches
        self._root = root

    @classmethod
    def build(cls, patients: Iterable[str]) -> DataTree:
        """The tree over the distinct `patients` (any address case; duplicates collapse).

        Raises `ReservedAddressError` for the zero address (it marks an empty subtree in
        non-membership proofs; the registry never admits it as a patient) and
        `InvalidIdentifierError` for a malformed address.
        """
        keys = sorted({_key(p) for p in patients})
        if keys and keys[0] == 0:
            raise ReservedAddressError(_ZERO_ADDRESS)
        tree = cls(keys, {}, EMPTY)
        tree._root = tree._build(0, len(keys), 0)
        logger.debug("built a data tree over %d patients", len(keys))
        return tree

    def _build(self, lo: int, hi: int, depth: int) -> Bytes32:
        """Hash of the node at `depth` holding keys[lo:hi] (which share their first bits)."""
        if hi - lo == 0:
            return EMPTY
        if hi - lo == 1:
            return _leaf(self._keys[lo])
        keys = self._keys
        split = DEPTH - (keys[lo] ^ keys[hi - 1]).bit_length()  # the depth where they part
        # every node between `depth` and `split` has one non-empty child: hash it on the way up
        boundary = (keys[hi - 1] >> (DEPTH - 1 - split)) << (DEPTH - 1 - split)
        mid = bisect.bisect_left(keys, boundary, lo, hi)
        node = inner_hash(self._build(lo, mid, split + 1), self._build(mid, hi, split + 1))
        self._branches[(keys[lo] >> (DEPTH - split)) << 8 | split] = node
        return self._lift(node, keys[lo], split, depth)

    @staticmethod
    def _lift(node: Bytes32, key: int, start: int, depth: int) -> Bytes32:
        """From a node at depth `start` up to `depth`, through single-child nodes."""
        for d in range(start - 1, depth - 1, -1):
            node = inner_hash(node, EMPTY) if _bit(key, d) == 0 else inner_hash(EMPTY, node)
        return node

    def _range(self, prefix: int, depth: int) -> tuple[int, int]:
        shift = DEPTH - depth
        lo = bisect.bisect_left(self._keys, prefix << shift)
        hi = bisect.bisect_left(self._keys, (prefix + 1) << shift)
        return lo, hi

    def _node(self, lo: int, hi: int, depth: int) -> Bytes32:
        """Hash of the node at `depth` holding keys[lo:hi], from the stored branch nodes."""
        if hi - lo == 0:
            return EMPTY
        if hi - lo == 1:
            return _leaf(self._keys[lo])
        keys = self._keys
        split = DEPTH - (keys[lo] ^ keys[hi - 1]).bit_length()
        node = self._branches[(keys[lo] >> (DEPTH - split)) << 8 | split]
        return self._lift(node, keys[lo], split, depth)

    @property
    def root(self) -> Bytes32:
        """The 32-byte root (`dataRoot`); EMPTY for no patients."""
        return self._root

    @property
    def patients(self) -> tuple[Address, ...]:
        """The patients in ascending order."""
        return tuple(Address(to_checksum_address(k.to_bytes(20, "big"))) for k in self._keys)

    def __len__(self) -> int:
        """The number of patients."""
        return len(self._keys)

    def __contains__(self, patient: object) -> bool:
        """Whether `patient` (an address string) is one of the tree's patients."""
        if not isinstance(patient, str):
            return False
        try:
            key = _key(patient)
        except InvalidIdentifierError:
            return False
        i = bisect.bisect_left(self._keys, key)
        return i < len(self._keys) and self._keys[i] == key

    def _proof(self, patient: str) -> SmtProof:
        key = _key(patient)
        bitmap = 0
        siblings: list[Bytes32] = []
        depth = 0
        lo, hi = 0, len(self._keys)
        while hi - lo > 1:
            sib_lo, sib_hi = self._range((key >> (DEPTH - 1 - depth)) ^ 1, depth + 1)
            sibling = self._node(sib_lo, sib_hi, depth + 1)
            if sibling != EMPTY:
                bitmap |= 1 << depth
                siblings.append(sibling)
            depth += 1
            lo, hi = self._range(key >> (DEPTH - depth), depth)
        occupant = None
        if hi - lo == 1 and self._keys[lo] != key:
            occupant = Address(to_checksum_address(self._keys[lo].to_bytes(20, "big")))
        return SmtProof(
            patient=parse_address(patient),
            depth=depth,
            bitmap=bitmap,
            siblings=tuple(reversed(siblings)),
            occupant=occupant,
        )

    def membership_proof(self, patient: str) -> SmtProof:
        """The proof that `patient` is in the tree; raises `PatientNotInTreeError` otherwise."""
        if patient not in self:
            raise PatientNotInTreeError(parse_address(patient))
        return self._proof(patient)

    def non_membership_proof(self, patient: str) -> SmtProof:
        """The proof that `patient` is absent; raises `PatientInTreeError` if it is present."""
        if patient in self:
            raise PatientInTreeError(parse_address(patient))
        return self._proof(patient)
