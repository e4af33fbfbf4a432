"""Exclusion-proof windows: which later rounds of a hospital must prove a patient absent."""

from __future__ import annotations

from consent.events import ConsentGranted, ConsentRevoked, EventPosition
from consent.ids import Bytes32, parse_address, study_id
from consent.index import ConsentIndex
from consent.smt import DataTree, verify_non_membership
from fl.roles.proofs import exclusion_proofs_for
from fl.roles.records import RoundUsage

STUDY = study_id("proof-windows")
HOSPITAL_A = parse_address("0x" + "a1" * 20)
HOSPITAL_B = parse_address("0x" + "b2" * 20)
PATIENT = parse_address("0x" + "c3" * 20)
OTHERS = tuple(parse_address(f"0x{i:040x}") for i in range(0x100, 0x105))


def _grant(hospital: str, block: int) -> ConsentGranted:
    return ConsentGranted(
        study=STUDY,
        patient=PATIENT,
        hospital=parse_address(hospital),
        expires_at=0,
        nonce=block,
        position=EventPosition(block, 2),  # after a same-block revocation (a move)
        tx_hash="0x" + f"{block:064x}",
        block_timestamp=1_000 + block,
    )


def _revoke(hospital: str, block: int) -> ConsentRevoked:
    return ConsentRevoked(
        study=STUDY,
        patient=PATIENT,
        hospital=parse_address(hospital),
        position=EventPosition(block, 1),
        tx_hash="0x" + f"{block:064x}",
        block_timestamp=1_000 + block,
    )


def _usage(round_: int, consent_block: int) -> RoundUsage:
    tree = DataTree.build(OTHERS)
    return RoundUsage(
        study=STUDY,
        hospital=HOSPITAL_A,
        round=round_,
        consent_block=consent_block,
        data_root=Bytes32(tree.root),
        update_cid=f"bafk-round-{round_}",
        num_samples=len(OTHERS),
        patients=tree.patients,
    )


def test_patient_moving_to_another_hospital_keeps_the_old_hospital_proving_absence() -> None:
    index = ConsentIndex(":memory:")
    # granted to A at 10; moving to B revokes A's consent (block 20) and grants to B (block 20)
    index.apply([_grant(HOSPITAL_A, 10), _revoke(HOSPITAL_A, 20), _grant(HOSPITAL_B, 20)])
    index.mark_synced(40)
    usages = [_usage(0, 15), _usage(1, 25), _usage(2, 35)]
    proofs = exclusion_proofs_for(index, STUDY, PATIENT, usages)
    assert [p.round for p in proofs] == [1, 2]
    for proof in proofs:
        assert verify_non_membership(proof.data_root, PATIENT, proof.proof)


def test_regrant_to_the_same_hospital_ends_the_window() -> None:
    index = ConsentIndex(":memory:")
    index.apply([_grant(HOSPITAL_A, 10), _revoke(HOSPITAL_A, 20), _grant(HOSPITAL_A, 30)])
    index.mark_synced(40)
    proofs = exclusion_proofs_for(index, STUDY, PATIENT, [_usage(1, 25), _usage(2, 35)])
    assert [p.round for p in proofs] == [1]
