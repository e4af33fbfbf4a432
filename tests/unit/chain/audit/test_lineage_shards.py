"""The `lineage` audit check over a real embedded SISA study on eth-tester (issue 16, S = 3):
a revocation rolls back only its patient's shard, the head's every shard lineage is checked and
the whole audit passes. Attacks: a proof missing from the revoked patient's shard lineage fails
naming the round and the shard; an aggregator that retrains the wrong shard is named (the
rollback serves a patient of another shard, and the composed base is not the one it names); a
record claiming another shard count fails. The revoked patient's status names their shard."""

from __future__ import annotations

import dataclasses

import pytest

from api.unlearning import unlearning_status
from api.wiring import default_audit_checks
from chain.audit import AuditVerifier, LedgerView
from chain.audit.lineage import Lineage
from chain.exclusions import ExclusionProofs
from consent.ids import Address
from consent.lineage import shard_lineages, shard_of
from tests.unit.chain.audit.unlearned_study import (
    round_without_proof,
    unlearn_plan,
    unlearned_study,
)

SHARDS = 3
PLAN = unlearn_plan(SHARDS)


STATUS: dict[str, object] = {}
"""The revoked patient's unlearning section, as the consent route computes it."""


@pytest.fixture(scope="module")
def sharded(tmp_path_factory: pytest.TempPathFactory) -> tuple[LedgerView, Address, bool]:
    tmp = tmp_path_factory.mktemp("lineage-shards")
    with unlearned_study(tmp, PLAN, rows=12) as (study, revoked, proofs):
        store = ExclusionProofs.load(proofs)
        view = LedgerView.read(study.coordinator, study.store, store, study.study)
        report = AuditVerifier(
            study.coordinator, study.store, store, checks=default_audit_checks()
        ).verify(study.study)
        failed = [c for c in report.checks if not c.passed]
        assert not failed, failed
        ledger = study.coordinator
        history = [
            e
            for e in ledger.consents.consent_events(ledger.manifest.deploy_block)
            if e.study == study.study and e.patient == revoked.address
        ]
        found = unlearning_status(ledger, study.store, proofs, study.study, history)
        assert found is not None
        STATUS.update(found.model_dump())
        STATUS["head_cid"] = view.rounds[-1].model_cid
        return view, revoked.address, report.passed


def test_a_revocation_retrains_only_its_shard_and_the_whole_audit_passes(
    sharded: tuple[LedgerView, Address, bool],
) -> None:
    view, revoked, passed = sharded
    assert passed
    k = shard_of(revoked, SHARDS)
    assert set(view.rollbacks) == {2}
    rollback = view.rollbacks[2]
    assert (rollback.base_round, rollback.shards, rollback.shard_mask) == (0, SHARDS, 1 << k)
    lines = shard_lineages(len(view.rounds) - 1, view.rollbacks, SHARDS)
    assert lines[k] == (2, 3)
    assert all(lines[s] == (0, 1) for s in range(SHARDS) if s != k)
    checks = Lineage().run(view)
    assert all(c.passed for c in checks)
    proven = {c.round for c in checks if c.subject.startswith("revoked patient")}
    assert proven == {2, 3}  # shard k's lineage only
    assert all(f"shard {k})" in c.subject for c in checks if c.subject.startswith("revoked"))
    assert any(c.subject == "rollback base" and c.passed for c in checks)


def test_a_missing_proof_in_the_patients_shard_lineage_fails_naming_round_and_shard(
    sharded: tuple[LedgerView, Address, bool],
) -> None:
    view, revoked, _ = sharded
    failed = [c for c in Lineage().run(round_without_proof(view, 3)) if not c.passed]
    k = shard_of(revoked, SHARDS)
    assert [c.round for c in failed] == [3]
    assert failed[0].detail.startswith(f"shard {k}'s lineage round lacks an exclusion proof")
    assert f"shard {k})" in failed[0].subject


def test_an_aggregator_retraining_the_wrong_shard_is_named(
    sharded: tuple[LedgerView, Address, bool],
) -> None:
    view, revoked, _ = sharded
    k = shard_of(revoked, SHARDS)
    wrong = (k + 1) % SHARDS
    forged = {2: dataclasses.replace(view.rollbacks[2], shard_mask=1 << wrong)}
    failed = [c for c in Lineage().run(dataclasses.replace(view, rollbacks=forged)) if not c.passed]
    details = [c.detail for c in failed]
    assert f"serves {revoked}, whose shard is {k}, but retrains shards [{wrong}]" in details
    assert any(c.subject == "rollback base" and c.round == 2 for c in failed)
    # and shard k's lineage now reaches back to rounds 0 and 1, which carried the patient
    assert {c.round for c in failed if c.subject.startswith("revoked patient")} == {0, 1}


def test_a_rollback_claiming_another_shard_count_fails(
    sharded: tuple[LedgerView, Address, bool],
) -> None:
    view, _, _ = sharded
    forged = {2: dataclasses.replace(view.rollbacks[2], shards=4)}
    failed = [c for c in Lineage().run(dataclasses.replace(view, rollbacks=forged)) if not c.passed]
    assert any("the plan has 3" in c.detail for c in failed)


def test_the_revoked_patients_status_names_their_shard_and_every_sub_model(
    sharded: tuple[LedgerView, Address, bool],
) -> None:
    _, revoked, _ = sharded
    k = shard_of(revoked, SHARDS)
    assert (STATUS["state"], STATUS["shards"], STATUS["shard"]) == ("unlearned", SHARDS, k)
    assert STATUS["lineage"] == [2, 3]
    assert str(STATUS["message"]).endswith(
        f"(round 3, {STATUS['head_cid']}) never trained on your data: your rows sat in shard "
        f"{k} of {SHARDS}, and none of the {SHARDS} sub-models it averages carries them"
    )
    proofs = STATUS["proofs"]
    assert isinstance(proofs, list)
    assert [(p["round"], p["verified"]) for p in proofs] == [(2, True), (3, True)]
    assert STATUS["rollback_round"] == 2
