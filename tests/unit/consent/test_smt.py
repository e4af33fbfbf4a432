"""consent.smt: the sparse Merkle tree over patient addresses and its position-bound proofs."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consent.errors import (
    MalformedProofError,
    PatientInTreeError,
    PatientNotInTreeError,
    ReservedAddressError,
)
from consent.ids import InvalidIdentifierError
from consent.smt import (
    DEPTH,
    EMPTY,
    DataTree,
    SmtProof,
    inner_hash,
    leaf_hash,
    verify_membership,
    verify_non_membership,
)


def _address(value: int) -> str:
    return "0x" + value.to_bytes(20, "big").hex()


def _random(rng: random.Random, n: int) -> list[str]:
    return [_address(rng.getrandbits(160) or 1) for _ in range(n)]


def _naive_root(keys: list[int], depth: int = 0) -> bytes:
    """The definition, computed the slow way: split on each bit, collapse single leaves."""
    if not keys:
        return EMPTY
    if len(keys) == 1:
        return leaf_hash(_address(keys[0]))
    left = [k for k in keys if not (k >> (DEPTH - 1 - depth)) & 1]
    right = [k for k in keys if (k >> (DEPTH - 1 - depth)) & 1]
    return inner_hash(_naive_root(left, depth + 1), _naive_root(right, depth + 1))


@settings(max_examples=60, deadline=None)
@given(st.sets(st.integers(min_value=1, max_value=2**160 - 1), max_size=24))
def test_root_matches_the_definition(keys: set[int]) -> None:
    assert DataTree.build([_address(k) for k in keys]).root == _naive_root(sorted(keys))


@settings(max_examples=40, deadline=None)
@given(
    st.sets(st.integers(min_value=1, max_value=2**12), min_size=1, max_size=20),
    st.integers(min_value=1, max_value=2**12),
)
def test_every_key_has_exactly_one_kind_of_proof(keys: set[int], probe: int) -> None:
    # small keys share long prefixes: deep paths and one-sided nodes everywhere
    tree = DataTree.build([_address(k) for k in keys])
    address = _address(probe)
    if probe in keys:
        proof = tree.membership_proof(address)
        assert verify_membership(tree.root, address, proof)
        assert not verify_non_membership(tree.root, address, proof)
    else:
        proof = tree.non_membership_proof(address)
        assert verify_non_membership(tree.root, address, proof)
        assert not verify_membership(tree.root, address, proof)


def test_build_ignores_order_case_and_duplicates() -> None:
    patients = _random(random.Random(1), 50)
    shuffled = list(reversed(patients)) + [p.upper().replace("0X", "0x") for p in patients[:5]]
    assert DataTree.build(patients).root == DataTree.build(shuffled).root
    assert len(DataTree.build(shuffled)) == 50


def test_empty_and_single_trees() -> None:
    empty = DataTree.build([])
    assert empty.root == EMPTY
    absent = _address(7)
    assert verify_non_membership(EMPTY, absent, empty.non_membership_proof(absent))
    one = DataTree.build([_address(5)])
    assert one.root == leaf_hash(_address(5))
    proof = one.non_membership_proof(absent)
    assert proof.occupant is not None
    assert proof.depth == 0
    assert verify_non_membership(one.root, absent, proof)


def test_zero_address_is_reserved_and_malformed_addresses_refused() -> None:
    with pytest.raises(ReservedAddressError):
        DataTree.build([_address(0)])
    with pytest.raises(InvalidIdentifierError):
        DataTree.build(["0x1234"])


def test_proof_for_the_wrong_set_or_key_fails() -> None:
    patients = _random(random.Random(2), 40)
    tree, other = DataTree.build(patients), DataTree.build(patients[:-1])
    proof = tree.membership_proof(patients[0])
    assert not verify_membership(other.root, patients[0], proof)
    assert not verify_membership(tree.root, patients[1], proof)
    with pytest.raises(PatientNotInTreeError):
        other.membership_proof(patients[-1])
    with pytest.raises(PatientInTreeError):
        tree.non_membership_proof(patients[-1])


def test_tampered_bitmap_siblings_or_depth_fail() -> None:
    patients = _random(random.Random(3), 64)
    tree = DataTree.build(patients)
    absent = _address(random.Random(4).getrandbits(160))
    proof = tree.non_membership_proof(absent)
    assert verify_non_membership(tree.root, absent, proof)
    bad_sibling = SmtProof(
        proof.patient, proof.depth, proof.bitmap, (EMPTY, *proof.siblings[1:]), proof.occupant
    )
    bad_bitmap = SmtProof(proof.patient, proof.depth, proof.bitmap ^ 1, proof.siblings, None)
    too_deep = SmtProof(proof.patient, DEPTH + 1, proof.bitmap, proof.siblings, proof.occupant)
    for bad in (bad_sibling, bad_bitmap, too_deep):
        assert not verify_non_membership(tree.root, absent, bad)


def test_an_occupant_that_does_not_share_the_prefix_is_refused() -> None:
    tree = DataTree.build([_address(1 << 159), _address(1)])
    probe = _address(2)
    proof = tree.non_membership_proof(probe)
    assert proof.occupant is not None
    moved = SmtProof(proof.patient, proof.depth, proof.bitmap, proof.siblings, _address(1 << 159))
    assert not verify_non_membership(tree.root, probe, moved)


def test_proofs_are_compact_and_round_trip_json() -> None:
    patients = _random(random.Random(5), 4096)
    tree = DataTree.build(patients)
    proof = tree.membership_proof(patients[17])
    assert len(proof.siblings) <= 24  # ~log2(4096) = 12, not 160
    assert proof.size_bytes() == 21 + 32 * len(proof.siblings)
    back = SmtProof.from_json(json.loads(json.dumps(proof.to_json())))
    assert back == proof
    assert verify_membership(tree.root, patients[17], back)


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"patient": _address(1), "depth": 161, "bitmap": "0x0", "siblings": []},
        {"patient": _address(1), "depth": 1, "bitmap": 3, "siblings": []},
        {"patient": _address(1), "depth": 1, "bitmap": "0x1", "siblings": "nope"},
        {"patient": "0x12", "depth": 0, "bitmap": "0x0", "siblings": []},
    ],
)
def test_malformed_json_raises_malformed_proof(data: dict[str, object]) -> None:
    with pytest.raises(MalformedProofError):
        SmtProof.from_json(data)
