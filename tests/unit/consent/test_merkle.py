"""Sorted Merkle commitments: leaf encoding, proofs for every leaf, absence proofs, tampering."""

from __future__ import annotations

import json
import random
from dataclasses import replace

import pytest
from eth_abi.abi import encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from consent.errors import (
    ConsentError,
    MalformedProofError,
    PatientInTreeError,
    PatientNotInTreeError,
    ReservedAddressError,
)
from consent.ids import Address, Bytes32, InvalidIdentifierError
from consent.merkle import (
    MAX_SENTINEL,
    MIN_SENTINEL,
    DataTree,
    MembershipProof,
    NonMembershipProof,
    hash_pair,
    leaf_hash,
    verify_membership,
    verify_non_membership,
)


def _address(value: int) -> Address:
    return Address(to_checksum_address(value.to_bytes(20, "big")))


def _random_addresses(rng: random.Random, n: int) -> list[Address]:
    return [_address(rng.randrange(1, 2**160 - 1)) for _ in range(n)]


def _reference_root(patients: list[Address]) -> bytes:
    """Root computed independently: eth_abi encoding, eth_utils keccak, recursive halving."""
    ordered = sorted({int(p, 16) for p in patients})
    values = [0, *ordered, 2**160 - 1]
    nodes = [
        keccak(keccak(encode(["uint256", "address"], [i, _address(v)])))
        for i, v in enumerate(values)
    ]
    while len(nodes) > 1:
        nxt = [
            keccak(min(nodes[i], nodes[i + 1]) + max(nodes[i], nodes[i + 1]))
            for i in range(0, len(nodes) - 1, 2)
        ]
        nodes = nxt + ([nodes[-1]] if len(nodes) % 2 else [])
    return nodes[0]


def test_leaf_hash_matches_double_keccak_of_abi_encoding() -> None:
    patient = _address(0xDEADBEEF)
    expected = keccak(keccak(encode(["uint256", "address"], [7, patient])))
    assert leaf_hash(7, patient) == expected


def test_hash_pair_is_commutative_and_hashes_sorted_concatenation() -> None:
    a, b = keccak(b"a"), keccak(b"b")
    assert hash_pair(a, b) == hash_pair(b, a) == keccak(min(a, b) + max(a, b))


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, 6, 7, 8, 13, 31, 64])
def test_every_leaf_has_a_valid_membership_proof_and_root_matches_reference(n: int) -> None:
    patients = _random_addresses(random.Random(n), n)
    tree = DataTree.build(patients)
    assert tree.root == _reference_root(patients)
    assert len(tree) == n
    for index, patient in enumerate(tree.patients, start=1):
        proof = tree.membership_proof(patient)
        assert proof.index == index
        assert verify_membership(tree.root, proof)


def test_patients_are_sorted_by_integer_value_and_deduplicated_across_case() -> None:
    patients = _random_addresses(random.Random(1), 20)
    tree = DataTree.build([*patients, *(p.lower() for p in patients)])
    assert list(tree.patients) == sorted(set(patients), key=lambda p: int(p, 16))


def test_root_does_not_depend_on_input_order() -> None:
    patients = _random_addresses(random.Random(2), 30)
    shuffled = patients[::-1]
    assert DataTree.build(patients).root == DataTree.build(shuffled).root


def test_different_patient_sets_give_different_roots() -> None:
    patients = _random_addresses(random.Random(3), 10)
    assert DataTree.build(patients).root != DataTree.build(patients[:-1]).root


@pytest.mark.parametrize("sentinel", [MIN_SENTINEL, MAX_SENTINEL])
def test_sentinel_address_as_patient_is_refused(sentinel: Address) -> None:
    with pytest.raises(ReservedAddressError) as info:
        DataTree.build([_address(5), sentinel.lower()])
    assert info.value.address == sentinel


def test_malformed_address_is_refused() -> None:
    with pytest.raises(InvalidIdentifierError):
        DataTree.build(["0x1234"])


def test_sentinels_are_leaves_at_both_ends() -> None:
    tree = DataTree.build(_random_addresses(random.Random(4), 4))
    low = tree.non_membership_proof(_address(1)).left
    high = tree.non_membership_proof(_address(2**160 - 2)).right
    assert (low.index, low.patient) == (0, MIN_SENTINEL)
    assert (high.index, high.patient) == (5, MAX_SENTINEL)


@settings(max_examples=40, deadline=None)
@given(
    members=st.sets(st.integers(1, 2**160 - 2), max_size=40),
    probes=st.lists(st.integers(1, 2**160 - 2), min_size=1, max_size=10),
)
def test_absent_addresses_have_valid_non_membership_proofs_and_present_ones_refuse(
    members: set[int], probes: list[int]
) -> None:
    tree = DataTree.build([_address(v) for v in members])
    for value in probes:
        probe = _address(value)
        if value in members:
            assert probe in tree
            with pytest.raises(PatientInTreeError):
                tree.non_membership_proof(probe)
        else:
            assert probe not in tree
            proof = tree.non_membership_proof(probe)
            assert verify_non_membership(tree.root, probe, proof)
            with pytest.raises(PatientNotInTreeError):
                tree.membership_proof(probe)


def test_non_membership_below_smallest_and_above_largest_patient_verifies() -> None:
    values = [2**80, 2**100, 2**120]
    tree = DataTree.build([_address(v) for v in values])
    for probe in (_address(1), _address(2**80 - 1), _address(2**120 + 1), _address(2**160 - 2)):
        assert verify_non_membership(tree.root, probe, tree.non_membership_proof(probe))


def test_membership_proof_does_not_verify_against_another_root() -> None:
    patients = _random_addresses(random.Random(5), 9)
    tree = DataTree.build(patients)
    other = DataTree.build(patients[:-1])
    assert not verify_membership(other.root, tree.membership_proof(patients[0]))


def test_tampered_membership_proofs_are_rejected() -> None:
    patients = _random_addresses(random.Random(6), 12)
    tree = DataTree.build(patients)
    proof = tree.membership_proof(tree.patients[4])
    flipped = Bytes32(bytes([proof.siblings[0][0] ^ 1]) + proof.siblings[0][1:])
    tampered = [
        replace(proof, index=proof.index + 1),
        replace(proof, patient=tree.patients[5]),
        replace(proof, siblings=(flipped, *proof.siblings[1:])),
        replace(proof, siblings=proof.siblings[:-1]),
        replace(proof, siblings=(*proof.siblings, proof.siblings[0])),
    ]
    assert verify_membership(tree.root, proof)
    for bad in tampered:
        assert not verify_membership(tree.root, bad)


def test_non_membership_proof_with_non_adjacent_or_wrong_bracket_is_rejected() -> None:
    values = [10**40, 2 * 10**40, 3 * 10**40, 4 * 10**40]
    tree = DataTree.build([_address(v) for v in values])
    absent = _address(10**40 + 5)
    proof = tree.non_membership_proof(absent)
    assert verify_non_membership(tree.root, absent, proof)
    gap = NonMembershipProof(proof.left, tree.membership_proof(_address(3 * 10**40)))
    swapped = NonMembershipProof(proof.right, proof.left)
    assert not verify_non_membership(tree.root, absent, gap)
    assert not verify_non_membership(tree.root, absent, swapped)
    # the proof brackets `absent`, not an address outside the bracket
    assert not verify_non_membership(tree.root, _address(3 * 10**40 + 5), proof)
    # a bracket made of two real patients cannot hide one of them
    present = tree.membership_proof(_address(2 * 10**40))
    left = tree.membership_proof(_address(10**40))
    assert not verify_non_membership(tree.root, present.patient, NonMembershipProof(left, present))


def test_proofs_round_trip_through_json_text() -> None:
    tree = DataTree.build(_random_addresses(random.Random(7), 17))
    membership = tree.membership_proof(tree.patients[3])
    absent = _address(12345)
    non_membership = tree.non_membership_proof(absent)
    back_m = MembershipProof.from_json(json.loads(json.dumps(membership.to_json())))
    back_n = NonMembershipProof.from_json(json.loads(json.dumps(non_membership.to_json())))
    assert back_m == membership
    assert back_n == non_membership
    assert verify_non_membership(tree.root, absent, back_n)


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"index": "1", "patient": MIN_SENTINEL, "siblings": []},
        {"index": -1, "patient": MIN_SENTINEL, "siblings": []},
        {"index": 1, "patient": "0x12", "siblings": []},
        {"index": 1, "patient": MIN_SENTINEL, "siblings": ["0x00"]},
        {"index": 1, "patient": MIN_SENTINEL, "siblings": "0x"},
    ],
)
def test_malformed_membership_json_raises_malformed_proof_error(data: dict[str, object]) -> None:
    with pytest.raises(MalformedProofError) as info:
        MembershipProof.from_json(data)
    assert isinstance(info.value, ConsentError)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("data", [{}, {"left": [], "right": {}}, {"left": {}}])
def test_malformed_non_membership_json_raises_malformed_proof_error(
    data: dict[str, object],
) -> None:
    with pytest.raises(MalformedProofError):
        NonMembershipProof.from_json(data)
