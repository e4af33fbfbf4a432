"""Consent properties of the full round protocol on eth-tester with the real contracts.

(a) over seeded random schedules of grants, revocations and re-grants (some landing mid-round),
    the data path never trains on a patient whose consent did not count at the update's consent
    block, nor on never-consented patients, and every dataRoot commits to exactly the rows used;
(b) a revocation landing mid-round makes the contract refuse the stale update and the trainer
    recovers (retrains without the patient, or resubmits when the patient was not used);
(c) non-membership proofs of every revoked patient verify against every later dataRoot of their
    hospital, off chain and with the contract's own leaf check.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
from torch import Tensor

from api.embedded import EmbeddedStudy
from api.enrolment import enroll_records
from chain.ledger import ChainLedger
from consent.errors import StaleConsentError
from consent.ids import Address, Bytes32
from consent.keys import PatientKey, generate
from consent.records import UpdateSubmission
from consent.rounds import RoundState
from consent.smt import DataTree, SmtProof, verify_membership, verify_non_membership
from fl.data import HospitalDataset, RecordDataset
from fl.models import ModelSpec
from fl.roles import StudyPlan
from fl.train import LocalResult, LocalTrainingConfig, train_local

PLAN = StudyPlan(
    model=ModelSpec.linear(3, "classification"),
    training=LocalTrainingConfig(epochs=1, batch_size=16, lr=0.1),
)


def records(hospital: int, n: int) -> RecordDataset:
    generator = torch.Generator().manual_seed(hospital)
    features = torch.randn(n, 3, generator=generator)
    return RecordDataset(
        record_ids=tuple(f"h{hospital}-r{i}" for i in range(n)),
        features=features,
        labels=(features[:, 0] > 0).float(),
        task="classification",
        feature_names=("a", "b", "c"),
    )


@dataclass
class Recorder:
    """The instrumented data path: every dataset handed to training, with the round."""

    round: int = -1
    calls: list[tuple[int, frozenset[Address]]] = field(default_factory=list)
    during: Callable[[frozenset[Address]], None] | None = None

    def __call__(
        self,
        spec: ModelSpec,
        base: Mapping[str, Tensor],
        dataset: HospitalDataset,
        config: LocalTrainingConfig,
    ) -> LocalResult:
        used = frozenset(dataset.patients)
        self.calls.append((self.round, used))
        if self.during is not None:
            self.during(used)
        return train_local(spec, base, dataset, config)


@dataclass
class Ledgerbook:
    """Ground truth from the transactions the test sent: (block, patient, granted?)."""

    entries: list[tuple[int, Address, bool]] = field(default_factory=list)

    def consented_at(self, patient: Address, block: int) -> bool:
        state = False
        for at, who, granted in self.entries:
            if who == patient and at <= block:
                state = granted
        return state


def with_unknown_rows(dataset: HospitalDataset, strangers: list[Address]) -> HospitalDataset:
    extra = torch.zeros(len(strangers), dataset.features.shape[1])
    return HospitalDataset(
        patients=(*dataset.patients, *strangers),
        features=torch.cat([dataset.features, extra]),
        labels=torch.cat([dataset.labels, torch.zeros(len(strangers))]),
        task=dataset.task,
        feature_names=dataset.feature_names,
    )


def build(tmp_path: Path, recorder: Recorder, hospitals: int, rounds: int) -> EmbeddedStudy:
    return EmbeddedStudy.create(
        tmp_path, hospitals=hospitals, plan=PLAN, rounds=rounds, train_fn=recorder
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_schedules_never_train_on_patients_without_consent(
    tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    recorder = Recorder()
    rounds = 4
    study = build(tmp_path, recorder, hospitals=2, rounds=rounds)
    book = Ledgerbook()
    keys: dict[Address, PatientKey] = {}
    owner: dict[Address, int] = {}
    strangers = [generate().address for _ in range(3)]
    for k in range(2):
        enrolment = study.enroll(k, records(k, 10))
        for event in enrolment.granted:
            book.entries.append((event.position.block_number, event.patient, True))
        for key in enrolment.keys.values():
            keys[key.address] = key
            owner[key.address] = k
        trainer = study.trainers[k]
        trainer.dataset = with_unknown_rows(trainer.dataset, strangers)

    def toggle(candidates: list[Address]) -> None:
        if not candidates:
            return
        patient = rng.choice(candidates)
        if book.consented_at(patient, study.chain.block_number()):
            event = study.revoke(keys[patient])
            book.entries.append((event.position.block_number, patient, False))
        else:
            ledger = study.hospital_ledgers[owner[patient]]
            granted = enroll_records(
                ledger.consents,
                study.study,
                _one_record(),
                keys={"r": keys[patient]},
            ).granted
            book.entries.append((granted[0].position.block_number, patient, True))

    mid_round_budget = {"left": 0}

    def during(used: frozenset[Address]) -> None:
        if mid_round_budget["left"] > 0 and rng.random() < 0.7:
            mid_round_budget["left"] -= 1
            toggle(sorted(used) if rng.random() < 0.7 else sorted(keys))

    recorder.during = during
    for r in range(rounds):
        for _ in range(rng.randint(0, 4)):
            toggle(sorted(keys))
        recorder.round = r
        mid_round_budget["left"] = 2
        study.run_round()

    ledger = ChainLedger(study.coordinator)
    checked = 0
    for r in range(rounds):
        for update in ledger.round(study.study, r).updates:
            k = next(i for i in range(2) if study.hospital(i) == update.hospital)
            mine = [u for rr, u in recorder.calls if rr == r and u and owner.get(min(u)) == k]
            used = mine[-1]  # the data behind the submitted update is the last training
            assert DataTree.build(used).root == update.data_root
            for patient in used:
                assert patient not in strangers
                assert book.consented_at(patient, update.consent_block), (r, patient)
                checked += 1
    assert checked > 0
    assert all(not (set(u) & set(strangers)) for _, u in recorder.calls)


def _one_record() -> RecordDataset:
    return RecordDataset(
        ("r",), torch.zeros(1, 3), torch.zeros(1), "classification", ("a", "b", "c")
    )


def test_mid_round_revocation_is_refused_as_stale_and_the_trainer_retrains(
    tmp_path: Path,
) -> None:
    recorder = Recorder()
    study = build(tmp_path, recorder, hospitals=1, rounds=2)
    enrolment = study.enroll(0, records(0, 8))
    victim = enrolment.keys["h0-r3"]
    revoked_at: list[int] = []

    def during(used: frozenset[Address]) -> None:
        if not revoked_at:
            revoked_at.append(study.revoke(victim).position.block_number)

    recorder.during = during

    report = study.run_round()

    outcome = report.trainers[study.hospital(0)]
    assert outcome is not None
    assert outcome.usage is not None
    assert (outcome.stale_refusals, outcome.retrained) == (1, 1)
    assert victim.address in recorder.calls[0][1]
    assert victim.address not in recorder.calls[1][1]
    update = ChainLedger(study.coordinator).round(study.study, 0).updates[0]
    assert update.consent_block >= revoked_at[0]
    assert update.data_root == DataTree.build(recorder.calls[1][1]).root
    # round 1 opened in round 0's finalizing transaction (the round pipeline): nothing to start
    assert study.aggregator.start() is None
    opened = study.aggregator.current_round()
    assert opened is not None
    assert (opened.round, opened.state) == (1, RoundState.OPEN)
    with pytest.raises(StaleConsentError):  # the contract's refusal, as the shared domain error
        ChainLedger(study.hospital_ledgers[0]).submit_update(
            study.study, 1, UpdateSubmission(
                update_hash=Bytes32(b"\x01" * 32), update_cid="bafkstale", num_samples=1,
                num_patients=1, data_root=Bytes32(b"\x02" * 32), consent_block=revoked_at[0] - 1,
            ),
        )  # fmt: skip


def test_mid_round_revocation_of_an_unused_patient_resubmits_without_retraining(
    tmp_path: Path,
) -> None:
    recorder = Recorder()
    study = build(tmp_path, recorder, hospitals=1, rounds=2)
    study.enroll(0, records(0, 8))
    bystander = enroll_records(study.hospital_ledgers[0].consents, study.study, records(9, 1)).keys[
        "h9-r0"
    ]  # enrolled at the hospital, but no rows in its training data
    recorder.during = lambda used: None if recorder.calls[1:] else study.revoke(bystander) and None

    report = study.run_round()

    outcome = report.trainers[study.hospital(0)]
    assert outcome is not None
    assert (outcome.stale_refusals, outcome.retrained, len(recorder.calls)) == (1, 0, 1)


def test_exclusion_proofs_of_revoked_patients_verify_against_every_later_data_root(
    tmp_path: Path,
) -> None:
    recorder = Recorder()
    study = build(tmp_path, recorder, hospitals=2, rounds=4)
    enrolments = [study.enroll(k, records(k, 10)) for k in range(2)]
    revoked: dict[Address, tuple[int, int]] = {}  # patient -> (hospital, revoked block)
    for r in range(4):
        if r in (1, 2):
            for k, enrolment in enumerate(enrolments):
                key = enrolment.keys[f"h{k}-r{r}"]
                revoked[key.address] = (k, study.revoke(key).position.block_number)
        study.run_round()

    files = study.write_exclusion_proofs(tmp_path / "proofs")

    ledger = ChainLedger(study.coordinator)
    rounds_ledger = study.coordinator.rounds
    expected = 0
    for patient, (k, block) in revoked.items():
        for r in range(4):
            update = next(
                u for u in ledger.round(study.study, r).updates if u.hospital == study.hospital(k)
            )
            if update.consent_block < block:
                continue
            expected += 1
            path = (
                tmp_path / "proofs" / ("0x" + bytes(study.study).hex()) / study.hospital(k)
                / str(r) / f"{patient}.json"
            )  # fmt: skip
            body = json.loads(path.read_text())
            assert body["data_root"] == "0x" + bytes(update.data_root).hex()
            proof = SmtProof.from_json(body["proof"])
            assert verify_non_membership(update.data_root, patient, proof)
            assert not verify_membership(update.data_root, patient, proof)
            assert rounds_ledger.verify_data_non_membership(update.data_root, proof)
    assert expected == len(files) == 2 * 3 + 2 * 2
