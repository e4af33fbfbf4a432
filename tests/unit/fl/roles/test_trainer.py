"""The trainer's protocol logic over in-memory fakes."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import replace

import pytest
from torch import Tensor

from consent.sealing import open_sealed
from consent.smt import DataTree, verify_non_membership
from fl.data import HospitalDataset
from fl.models import ModelSpec
from fl.roles import BaseModelMismatchError, ConsentRetryExhaustedError, DropReason
from fl.roles.errors import RoleError
from fl.serialize import bytes_to_state_dict
from fl.train import LocalResult, LocalTrainingConfig, train_local
from tests.unit.fl.roles.conftest import HOSPITALS, World, dataset_for, patient_of


class RecordingTrain:
    """Wraps `train_local`, remembering the patients of every dataset it trains on."""

    def __init__(self, before: object = None) -> None:
        self.calls: list[frozenset[str]] = []
        self.before = before

    def __call__(
        self,
        spec: ModelSpec,
        base: Mapping[str, Tensor],
        dataset: HospitalDataset,
        config: LocalTrainingConfig,
    ) -> LocalResult:
        self.calls.append(frozenset(dataset.patients))
        if callable(self.before):
            self.before()
        return train_local(spec, base, dataset, config)


def test_trainer_without_open_round_does_nothing(world: World) -> None:
    world.enrol_all()
    assert world.trainer(0).step() is None


def test_trainer_submits_only_consented_rows_and_reports_each_drop_reason(world: World) -> None:
    world.enrol_all()
    expired_at = world.chain.timestamp(world.chain.block) + 5
    unknown = patient_of(5, 0)
    world.chain.grant(patient_of(0, 7), HOSPITALS[0], expires_at=expired_at)  # re-grant, expiring
    world.chain.revoke(patient_of(0, 0))
    world.chain.grant(patient_of(0, 1), HOSPITALS[1])  # moved to the other hospital
    world.aggregator().start()
    train = RecordingTrain()
    trainer = world.trainer(0, dataset=dataset_for(0, extra=(unknown,)), train_fn=train)

    outcome = trainer.step()

    assert outcome is not None
    assert outcome.usage is not None
    usage = outcome.usage
    kept = {patient_of(0, i) for i in range(2, 7)}
    assert train.calls == [frozenset(kept)]
    assert set(usage.patients) == kept
    assert usage.num_samples == 2 * len(kept)
    assert usage.dropped_rows == {
        DropReason.REVOKED: 2,
        DropReason.NOT_CONSENTED: 2,
        DropReason.EXPIRED: 2,
        DropReason.UNKNOWN: 2,
    }
    assert usage.data_root == DataTree.build(kept).root
    update = world.chain.rounds[0].updates[0]
    assert (update.hospital, update.data_root, update.num_samples, update.num_patients) == (
        HOSPITALS[0],
        usage.data_root,
        usage.num_samples,
        len(kept),
    )
    assert update.consent_block == usage.consent_block


def test_submitted_update_is_the_sealed_delta_with_its_hash_on_the_ledger(world: World) -> None:
    world.enrol_all()
    world.aggregator().start()
    world.trainer(1).step()
    update = world.chain.rounds[0].updates[0]
    sealed = world.store.get(update.update_cid)
    assert hashlib.sha256(sealed).digest() == update.update_hash
    delta = bytes_to_state_dict(open_sealed(sealed, world.seal.private_key))
    assert set(delta) == set(world.plan.initial_state())


def test_trainer_refuses_a_base_model_whose_hash_differs_from_the_ledger(world: World) -> None:
    world.enrol_all()
    world.aggregator().start()
    record = world.chain.rounds[0]
    forged = world.store.put(b"not the model")
    world.chain.rounds[0] = replace(record, base_model_cid=forged)
    train = RecordingTrain()

    with pytest.raises(BaseModelMismatchError) as caught:
        world.trainer(0, train_fn=train).step()

    assert caught.value.cid == forged
    assert train.calls == []
    assert world.chain.rounds[0].updates == ()


def test_stale_refusal_after_revoking_a_used_patient_retrains_without_them(world: World) -> None:
    world.enrol_all()
    world.aggregator().start()
    revoked = patient_of(0, 3)
    world.chain.before_submit.append(
        lambda: world.chain.revoke(revoked) if revoked in world.chain.consent_hospital else None
    )
    train = RecordingTrain()

    outcome = world.trainer(0, train_fn=train).step()

    assert outcome is not None
    assert outcome.usage is not None
    assert outcome.stale_refusals == 1
    assert outcome.retrained == 1
    assert len(train.calls) == 2
    assert revoked in train.calls[0]
    assert revoked not in train.calls[1]
    assert revoked not in outcome.usage.patients
    assert outcome.usage.consent_block >= world.chain.last_revocation[HOSPITALS[0]]


def test_stale_refusal_for_an_unused_patient_resubmits_without_retraining(world: World) -> None:
    world.enrol_all()
    outside = patient_of(0, 20)  # enrolled at hospital 0 but has no rows in its data
    world.chain.grant(outside, HOSPITALS[0])
    world.aggregator().start()
    world.chain.before_submit.append(
        lambda: world.chain.revoke(outside) if outside in world.chain.consent_hospital else None
    )
    train = RecordingTrain()
    trainer = world.trainer(0, train_fn=train)

    outcome = trainer.step()

    assert outcome is not None
    assert outcome.usage is not None
    assert (outcome.stale_refusals, outcome.retrained, len(train.calls)) == (1, 0, 1)
    assert (
        world.chain.rounds[0].updates[0].consent_block == world.chain.last_revocation[HOSPITALS[0]]
    )
    assert trainer.usages[0].submitted_block == world.chain.rounds[0].updates[0].submitted_block


def test_trainer_gives_up_after_repeated_stale_refusals(world: World) -> None:
    world.enrol_all()
    world.aggregator().start()
    extra = [patient_of(0, 100 + i) for i in range(10)]
    for p in extra:
        world.chain.grant(p, HOSPITALS[0])
    world.chain.before_submit.append(lambda: world.chain.revoke(extra.pop()))

    with pytest.raises(ConsentRetryExhaustedError) as caught:
        world.trainer(0).step()

    assert caught.value.round == 0
    assert world.chain.rounds[0].updates == ()


def test_trainer_with_every_patient_revoked_skips_the_round(world: World) -> None:
    world.enrol_all()
    for i in range(8):
        world.chain.revoke(patient_of(1, i))
    world.aggregator().start()
    trainer = world.trainer(1)

    outcome = trainer.step()

    assert outcome is not None
    assert outcome.usage is None
    assert outcome.skipped
    assert trainer.step() is None  # the round is not retried
    assert world.chain.rounds[0].updates == ()


def test_restarted_trainer_does_not_retrain_a_submitted_round(world: World) -> None:
    world.enrol_all()
    world.aggregator().start()
    first = world.trainer(0)
    first.step()
    train = RecordingTrain()

    restarted = world.trainer(0, train_fn=train)

    assert restarted.step() is None
    assert train.calls == []
    assert restarted.usages[0] == first.usages[0]


def test_exclusion_proofs_cover_every_later_round_and_verify(world: World) -> None:
    world.enrol_all()
    now = [0.0]
    aggregator = world.aggregator(rounds=3, clock=lambda: now[0])
    aggregator.start()
    trainer = world.trainer(0)
    revoked = patient_of(0, 2)
    for r in range(3):
        if r == 1:
            world.chain.revoke(revoked)
        assert trainer.step() is not None
        assert aggregator.poll() is None  # hospital 1 is missing: wait for the timeout
        now[0] += world.plan.round_timeout_s
        outcome = aggregator.poll()
        assert outcome is not None
        assert outcome.missing == (HOSPITALS[1],)

    proofs = trainer.exclusion_proofs(revoked)

    assert [p.round for p in proofs] == [1, 2]
    for proof in proofs:
        on_chain = world.chain.rounds[proof.round].updates[0]
        assert proof.data_root == on_chain.data_root
        assert verify_non_membership(on_chain.data_root, revoked, proof.proof)
    assert revoked in trainer.usages[0].patients
    files = trainer.write_exclusion_proofs(world.tmp / "proofs")
    assert len(files) == 2
    assert all(f.name == f"{revoked}.json" for f in files)


def test_run_raises_a_base_model_mismatch_at_once_instead_of_retrying(world: World) -> None:
    world.enrol_all()
    world.aggregator().start()
    record = world.chain.rounds[0]
    world.chain.rounds[0] = replace(record, base_model_cid=world.store.put(b"forged"))
    train = RecordingTrain()

    with pytest.raises(BaseModelMismatchError):
        world.trainer(0, train_fn=train).run(poll_interval=0)

    assert train.calls == []


def test_a_hospital_removed_after_a_round_is_refused_its_next_round_without_submitting(
    world: World,
) -> None:
    world.enrol_all()
    aggregator = world.aggregator()
    aggregator.start()
    train = RecordingTrain()
    trainer = world.trainer(0, train_fn=train)
    assert trainer.step() is not None  # round 0: a member, read before training
    for h in range(1, len(HOSPITALS)):
        world.trainer(h).step()
    assert aggregator.poll() is not None  # round 0 finalized, round 1 opened
    world.chain.study = replace(world.chain.study, hospitals=HOSPITALS[1:])  # removed meanwhile

    with pytest.raises(RoleError, match="not a member hospital"):
        trainer.step()  # the members read again while it syncs consent: refused before training

    assert len(train.calls) == 1  # round 0's only
    assert all(u.hospital != HOSPITALS[0] for u in world.chain.rounds[1].updates)
