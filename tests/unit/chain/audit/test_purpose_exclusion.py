"""Attack: a hospital trains on a patient whose consent does not cover the study's purpose. The
contract cannot see which rows were used; the audit's exclusion check treats an uncovered purpose
like a revocation and asks for a non-membership proof the hospital cannot give."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from chain.audit import LedgerView
from chain.audit.exclusion import Exclusion
from chain.exclusions import ExclusionProofs
from chain.store import LocalStore
from consent.events import ConsentGranted, PurposesRevoked
from consent.purposes import HMB, ConsentScope, StudyPurpose
from tests.fixtures.ledger import LedgerWorld, sender_of
from tests.unit.chain.audit_history import build_history

DS_CANCER = ConsentScope.parse(["DS-CANCER"]).mask


@pytest.fixture
def honest(eth_tester_ledger: LedgerWorld, tmp_path: Path) -> LedgerView:
    store = LocalStore(tmp_path / "store")
    build_history(eth_tester_ledger, store, tmp_path / "proofs")
    world = eth_tester_ledger
    proofs = ExclusionProofs.load(tmp_path / "proofs")
    return LedgerView.read(world.coordinator, store, proofs, world.study)


def _narrowed(view: LedgerView, patient: str, mask: int) -> LedgerView:
    """The same history with `patient`'s grants covering only `mask`, in an HMB study."""
    events = tuple(
        dataclasses.replace(e, purposes=mask)
        if isinstance(e, ConsentGranted) and e.patient == patient
        else e
        for e in view.consent_events
    )
    return dataclasses.replace(view, consent_events=events, study_purpose=StudyPurpose(HMB))


def test_the_honest_history_passes_with_a_declared_purpose_every_consent_covers(
    honest: LedgerView,
) -> None:
    view = dataclasses.replace(honest, study_purpose=StudyPurpose(HMB))  # GRU grants cover HMB
    assert all(c.passed for c in Exclusion().run(view))


def test_a_used_patient_whose_consent_is_disease_only_fails_the_exclusion_check(
    honest: LedgerView, eth_tester_ledger: LedgerWorld
) -> None:
    world = eth_tester_ledger
    used = world.patient(0)  # in hospital 0's data roots of both rounds
    view = _narrowed(honest, used, DS_CANCER)

    failed = [c for c in Exclusion().run(view) if not c.passed]

    assert {(c.round, c.hospital) for c in failed} == {
        (0, sender_of(world.hospitals[0])),
        (1, sender_of(world.hospitals[0])),
    }
    assert all(c.subject == f"uncovered patient {used}" for c in failed)
    assert all("no non-membership proof" in c.detail for c in failed)


def test_withdrawing_the_studys_purpose_needs_proofs_from_then_on(
    honest: LedgerView, eth_tester_ledger: LedgerWorld
) -> None:
    world = eth_tester_ledger
    used = world.patient(0)
    round_1 = honest.rounds[1]
    at = round_1.opened_block  # before round 1's update's consent block
    grant = next(
        e for e in honest.consent_events if isinstance(e, ConsentGranted) and e.patient == used
    )
    withdrawal = PurposesRevoked(
        grant.study, used, grant.hospital, HMB.bit, DS_CANCER,
        dataclasses.replace(grant.position, block_number=at, log_index=999), "0x" + "ab" * 32,
        grant.block_timestamp,
    )  # fmt: skip
    events = sorted((*honest.consent_events, withdrawal), key=lambda e: e.position)
    view = dataclasses.replace(
        honest,
        consent_events=tuple(
            dataclasses.replace(e, purposes=HMB.bit | DS_CANCER)
            if isinstance(e, ConsentGranted) and e.patient == used
            else e
            for e in events
        ),
        study_purpose=StudyPurpose(HMB),
    )

    failed = [c for c in Exclusion().run(view) if not c.passed]

    assert [(c.round, c.subject) for c in failed] == [(1, f"uncovered patient {used}")]
