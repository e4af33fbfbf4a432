"""The `lineage` audit check over a real embedded `unlearn` study on eth-tester (issue 16): a
revocation, the rollback round on chain, retraining to a clean head, the trainers' lineage
proofs. Attacks: a lineage round lacking its exclusion proof fails naming that round; a head
that was never rolled back fails naming the rounds that carry the patient."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from chain.audit import LedgerView
from chain.audit.base_model import BaseModel
from chain.audit.exclusion import Exclusion
from chain.audit.lineage import Lineage
from chain.exclusions import ExclusionProofs
from consent.formats.revocation import RevocationPolicy
from consent.ids import Address
from tests.unit.chain.audit.unlearned_study import (
    round_without_proof,
    unlearn_plan,
    unlearned_study,
)

PLAN = unlearn_plan()


@pytest.fixture(scope="module")
def unlearned(tmp_path_factory: pytest.TempPathFactory) -> tuple[LedgerView, Address, Path]:
    tmp = tmp_path_factory.mktemp("lineage")
    with unlearned_study(tmp, PLAN, rows=10) as (study, revoked, proofs):
        view = LedgerView.read(
            study.coordinator, study.store, ExclusionProofs.load(proofs), study.study
        )
        return view, revoked.address, proofs


def test_the_rolled_back_head_passes_the_lineage_check(
    unlearned: tuple[LedgerView, Address, Path],
) -> None:
    view, revoked, _ = unlearned
    assert set(view.rollbacks) == {2}
    assert view.rollbacks[2].base_round == 0
    assert view.rollbacks[2].patients == (revoked,)
    checks = Lineage().run(view)
    assert checks
    assert all(c.passed for c in checks), [c for c in checks if not c.passed]
    proven = {c.round for c in checks if c.subject.startswith("revoked patient")}
    assert proven == {2, 3}  # the head's lineage: the rollback round and the one after it
    assert all(c.passed for c in BaseModel().run(view))
    assert all(c.passed for c in Exclusion().run(view))


def test_a_lineage_round_without_its_exclusion_proof_fails_naming_it(
    unlearned: tuple[LedgerView, Address, Path],
) -> None:
    view, revoked, _ = unlearned
    # round 3's update of the revoked patient's hospital commits to a root no proof answers for
    failed = [c for c in Lineage().run(round_without_proof(view, 3)) if not c.passed]
    assert [(c.round, c.detail.split(" (")[0]) for c in failed] == [
        (3, "lineage round lacks an exclusion proof")
    ]
    assert str(revoked) in failed[0].subject


def test_a_head_that_was_never_rolled_back_fails_naming_the_rounds_that_carry_the_patient(
    unlearned: tuple[LedgerView, Address, Path],
) -> None:
    view, _, _ = unlearned
    hidden = dataclasses.replace(view, rollbacks={})  # a node hiding the rollback record
    failed = [c for c in Lineage().run(hidden) if not c.passed]
    assert {c.round for c in failed} == {0, 1}
    assert not all(c.passed for c in BaseModel().run(hidden))


def test_a_rollback_record_naming_another_base_fails(
    unlearned: tuple[LedgerView, Address, Path],
) -> None:
    view, _, _ = unlearned
    forged = {2: dataclasses.replace(view.rollbacks[2], base_round=1)}
    failed = [c for c in Lineage().run(dataclasses.replace(view, rollbacks=forged)) if not c.passed]
    assert any(c.subject == "rollback" and c.round == 2 for c in failed)


def test_an_unreadable_policy_fails_and_forward_passes_with_nothing_to_prove(
    unlearned: tuple[LedgerView, Address, Path],
) -> None:
    view, _, _ = unlearned
    assert not Lineage().run(dataclasses.replace(view, revocation_policy=None))[0].passed
    forward = Lineage().run(dataclasses.replace(view, revocation_policy=RevocationPolicy()))
    assert [(c.passed, c.subject) for c in forward] == [(True, "policy")]
