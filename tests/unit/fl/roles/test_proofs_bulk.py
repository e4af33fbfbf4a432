"""The hospital-wide proof paths read histories in bulk (`ConsentViewPort.histories`) and give
what the former per-patient reads gave (kept here as the reference)."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence

import pytest

from consent.events import ConsentEvent, ConsentGranted
from consent.ids import Address, Bytes32, StudyId
from consent.index import ConsentIndex
from consent.purposes import GRU_BIT, StudyPurpose
from consent.smt import DataTree
from fl.roles.proofs import (
    exclusion_proofs_for,
    lineage_proofs_for,
    patients_needing_proofs,
    proofs_for,
)
from fl.roles.records import RoundUsage
from tests.unit.consent.test_index_histories import HOSPITALS, STUDIES, random_world
from tests.unit.fl.roles.fakes import IndexConsentView


class _View(IndexConsentView):
    """The port over a bare index, counting the per-patient and the bulk history reads."""

    def __init__(self, index: ConsentIndex) -> None:
        super().__init__(index)
        self.history_reads, self.bulk_reads = 0, 0

    def history(self, study: StudyId, patient: str) -> list[ConsentEvent]:
        self.history_reads += 1
        return super().history(study, patient)

    def histories(
        self, study: StudyId, patients: Iterable[str]
    ) -> dict[Address, list[ConsentEvent]]:
        self.bulk_reads += 1
        return super().histories(study, patients)


def _former_patients_needing_proofs(view: _View, study: StudyId, hospital: Address) -> list[str]:
    """`patients_needing_proofs` as it was: one `history` read per patient of the hospital."""
    revoked = set(view.revoked_since(study, hospital, -1))
    scoped = {
        e.patient
        for patient in view.patients(study, hospital)
        for e in view.history(study, patient)
        if isinstance(e, ConsentGranted) and e.hospital == hospital
        and (e.expires_at or e.valid_from or e.purposes != GRU_BIT)
    }  # fmt: skip
    return sorted(revoked | scoped)


def _usages(
    rng: random.Random, study: StudyId, people: Sequence[Address], blocks: int
) -> list[RoundUsage]:
    usages = []
    for hospital in HOSPITALS:
        for round_ in range(4):
            tree = DataTree.build(rng.sample(list(people), rng.randint(1, len(people) // 2)))
            usages.append(
                RoundUsage(
                    study=study,
                    hospital=hospital,
                    round=round_,
                    consent_block=rng.randint(1, blocks + 5),
                    data_root=Bytes32(tree.root),
                    update_cid=f"bafk-{hospital[-4:]}-{round_}",
                    num_samples=len(tree.patients),
                    patients=tree.patients,
                )
            )
    return usages


@pytest.mark.parametrize("seed", range(6))
def test_patients_needing_proofs_equals_the_per_patient_reads(seed: int) -> None:
    world = random_world(seed)
    with ConsentIndex(":memory:") as index:
        index.apply(world.events)
        view = _View(index)
        for study in STUDIES:
            for hospital in HOSPITALS:
                expected = _former_patients_needing_proofs(view, study, hospital)
                reads = view.history_reads
                assert patients_needing_proofs(view, study, hospital) == expected
                assert view.history_reads == reads  # no per-patient read left
        assert any(
            patients_needing_proofs(view, s, h) for s in STUDIES for h in HOSPITALS
        )  # the worlds do need proofs


@pytest.mark.parametrize(("seed", "unlearns"), [(s, s % 2 == 0) for s in range(4)])
def test_proofs_for_equals_the_per_patient_proofs(seed: int, unlearns: bool) -> None:
    world = random_world(seed, blocks=120)
    rng = random.Random(seed)
    purpose = rng.choice([None, StudyPurpose.parse("HMB"), StudyPurpose.parse("GRU")])
    with ConsentIndex(":memory:") as index:
        index.apply(world.events)
        view = _View(index)
        proven = 0
        for study in STUDIES:
            usages = _usages(rng, study, world.patients, 120)
            for hospital in HOSPITALS:
                patients = patients_needing_proofs(view, study, hospital)
                mine = [u for u in usages if u.hospital == hospital]
                expected = []
                for patient in patients:  # the trainer's former loop
                    found = exclusion_proofs_for(view, study, patient, mine, purpose)
                    if unlearns:
                        found += lineage_proofs_for(view, study, patient, mine, found)
                    expected += found
                reads, bulk = view.history_reads, view.bulk_reads
                assert proofs_for(view, study, patients, mine, purpose, unlearns) == expected
                assert (view.history_reads, view.bulk_reads) == (reads, bulk + 1)
                # a hospital's usages mixed with others' (the per-hospital windows)
                expected_all = [
                    p for q in patients for p in exclusion_proofs_for(view, study, q, usages)
                ]
                assert proofs_for(view, study, patients, usages) == expected_all
                proven += len(expected)
        assert proven  # the worlds do hold proofs to write
