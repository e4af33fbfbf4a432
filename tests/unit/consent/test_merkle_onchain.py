"""Data-tree roots and proofs checked by the RoundLedger contract (OpenZeppelin MerkleProof)."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from eth_utils.address import to_checksum_address

from chain.round_ledger import RoundLedger
from consent.ids import Address
from consent.merkle import DataTree, MembershipProof
from tests.fixtures.ledger import LedgerWorld


@pytest.fixture
def rounds(eth_tester_ledger_session: LedgerWorld) -> RoundLedger:
    # pure view calls change no state: the session deployment needs no snapshot
    return eth_tester_ledger_session.coordinator.rounds


def _patients(n: int) -> list[Address]:
    rng = random.Random(n)
    return [Address(to_checksum_address(rng.randbytes(20))) for _ in range(n)]


def _on_chain(rounds: RoundLedger, root: bytes, proof: MembershipProof) -> bool:
    return rounds.verify_data_leaf(root, proof.index, proof.patient, proof.siblings)  # type: ignore[arg-type]


@pytest.mark.parametrize("n", [0, 1, 2, 3, 6, 9, 14])
def test_contract_accepts_every_leaf_including_sentinels(rounds: RoundLedger, n: int) -> None:
    tree = DataTree.build(_patients(n))
    proofs = [tree.membership_proof(p) for p in tree.patients]
    low = tree.non_membership_proof(to_checksum_address(b"\x00" * 19 + b"\x01"))
    high = tree.non_membership_proof(to_checksum_address(b"\xff" * 19 + b"\xfe"))
    proofs += [low.left, high.right]
    assert [_on_chain(rounds, tree.root, p) for p in proofs] == [True] * (n + 2)


def test_contract_accepts_both_halves_of_a_non_membership_proof(rounds: RoundLedger) -> None:
    tree = DataTree.build(_patients(11))
    absent = _patients(12)[-1]
    proof = tree.non_membership_proof(absent)
    assert _on_chain(rounds, tree.root, proof.left)
    assert _on_chain(rounds, tree.root, proof.right)
    assert proof.right.index == proof.left.index + 1


def test_contract_refuses_tampered_proofs(rounds: RoundLedger) -> None:
    tree = DataTree.build(_patients(7))
    proof = tree.membership_proof(tree.patients[2])
    flipped = bytes([proof.siblings[1][0] ^ 0x80]) + proof.siblings[1][1:]
    tampered = [
        replace(proof, index=proof.index + 1),
        replace(proof, patient=tree.patients[3]),
        replace(proof, siblings=(proof.siblings[0], flipped, *proof.siblings[2:])),  # type: ignore[arg-type]
        replace(proof, siblings=proof.siblings[:-1]),
    ]
    assert _on_chain(rounds, tree.root, proof)
    assert [_on_chain(rounds, tree.root, p) for p in tampered] == [False] * len(tampered)
    other = DataTree.build(_patients(8))
    assert not _on_chain(rounds, other.root, proof)
