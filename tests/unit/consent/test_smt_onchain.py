"""RoundLedger.verifyDataMembership / verifyDataNonMembership agree with consent.smt."""

from __future__ import annotations

import random

from consent.ids import Bytes32, parse_address
from consent.smt import DataTree, SmtProof, verify_membership, verify_non_membership
from tests.fixtures.ledger import LedgerWorld


def _patients(rng: random.Random, n: int) -> list[str]:
    return ["0x" + (rng.getrandbits(160) or 1).to_bytes(20, "big").hex() for _ in range(n)]


def test_contract_accepts_what_python_accepts(eth_tester_ledger: LedgerWorld) -> None:
    rounds = eth_tester_ledger.coordinator.rounds
    rng = random.Random(11)
    for n in (1, 2, 3, 17, 200):
        patients = _patients(rng, n)
        tree = DataTree.build(patients)
        root = Bytes32(tree.root)
        for patient in patients[:3]:
            proof = tree.membership_proof(patient)
            assert verify_membership(root, patient, proof)
            assert rounds.verify_data_membership(root, proof)
        for absent in _patients(rng, 3):
            proof = tree.non_membership_proof(absent)
            assert verify_non_membership(root, absent, proof)
            assert rounds.verify_data_non_membership(root, proof)


def test_contract_rejects_what_python_rejects(eth_tester_ledger: LedgerWorld) -> None:
    rounds = eth_tester_ledger.coordinator.rounds
    rng = random.Random(12)
    patients = _patients(rng, 30)
    tree = DataTree.build(patients)
    root = Bytes32(tree.root)
    member = tree.membership_proof(patients[0])
    # a membership proof is no absence proof, and the absence proof of a member does not exist
    as_absent = SmtProof(member.patient, member.depth, member.bitmap, member.siblings, None)
    assert not verify_non_membership(root, patients[0], as_absent)
    assert not rounds.verify_data_non_membership(root, as_absent)
    other = DataTree.build(patients[1:])
    assert not rounds.verify_data_membership(Bytes32(other.root), member)
    dropped = SmtProof(member.patient, member.depth, member.bitmap, member.siblings[1:])
    assert not verify_membership(root, patients[0], dropped)
    assert not rounds.verify_data_membership(root, dropped)


def test_a_malformed_proof_never_matches_a_chosen_root(eth_tester_ledger: LedgerWorld) -> None:
    # malformed proofs report failure as data, not as a sentinel root a hospital could commit
    rounds = eth_tester_ledger.coordinator.rounds
    patient = parse_address(_patients(random.Random(13), 1)[0])
    bogus = SmtProof(patient, 3, 0b111, ())  # bitmap names siblings that are not there
    for root in (Bytes32(bytes(32)), Bytes32((1).to_bytes(32, "big"))):
        assert not rounds.verify_data_membership(root, bogus)
        assert not rounds.verify_data_non_membership(root, bogus)
