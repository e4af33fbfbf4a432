"""A two-hospital study on the in-memory fakes, with tiny datasets and a linear model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from consent.ids import Address, StudyId, parse_address, study_id
from consent.sealing import SealingKeyPair, generate_keypair
from fl.data import HospitalDataset
from fl.models import ModelSpec
from fl.ports import StudyRecord
from fl.roles import Aggregator, StudyPlan, Trainer
from fl.roles.trainer import TrainFn
from fl.train import LocalTrainingConfig, train_local
from tests.unit.fl.roles.fakes import FakeChain, FakeConsent, FakeLedger, FakeStore

AGGREGATOR = parse_address("0x" + "a1" * 20)
HOSPITALS = (parse_address("0x" + "b1" * 20), parse_address("0x" + "b2" * 20))
PATIENTS_PER_HOSPITAL = 8


def patient_of(hospital: int, i: int) -> Address:
    return parse_address(f"0x{(hospital + 1) * 0x1000 + i + 1:040x}")


def dataset_for(hospital: int, extra: tuple[Address, ...] = ()) -> HospitalDataset:
    """Two rows per patient of `hospital`, plus two rows of each `extra` patient."""
    patients = [patient_of(hospital, i) for i in range(PATIENTS_PER_HOSPITAL)] + list(extra)
    rows = tuple(p for p in patients for _ in range(2))
    generator = torch.Generator().manual_seed(hospital)
    features = torch.randn(len(rows), 3, generator=generator)
    labels = (features[:, 0] > 0).float()
    return HospitalDataset(rows, features, labels, "classification", ("a", "b", "c"))


@dataclass
class World:
    study: StudyId
    chain: FakeChain
    store: FakeStore
    seal: SealingKeyPair
    plan: StudyPlan
    tmp: Path

    def trainer(
        self,
        hospital: int,
        *,
        dataset: HospitalDataset | None = None,
        train_fn: TrainFn = train_local,
        consent: FakeConsent | None = None,
        state_dir: Path | None = None,
    ) -> Trainer:
        return Trainer(
            study=self.study,
            ledger=FakeLedger(self.chain, HOSPITALS[hospital]),
            store=self.store,
            consent=consent or FakeConsent(self.chain),
            dataset=dataset if dataset is not None else dataset_for(hospital),
            state_dir=state_dir or self.tmp / f"hospital-{hospital}",
            train_fn=train_fn,
        )

    def aggregator(self, *, rounds: int = 3, clock: object = None) -> Aggregator:
        return Aggregator(
            study=self.study,
            ledger=FakeLedger(self.chain, AGGREGATOR),
            store=self.store,
            seal_key=self.seal.private_key,
            rounds=rounds,
            **({"clock": clock} if clock is not None else {}),  # type: ignore[arg-type]
        )

    def enrol_all(self) -> None:
        for h, hospital in enumerate(HOSPITALS):
            for i in range(PATIENTS_PER_HOSPITAL):
                self.chain.grant(patient_of(h, i), hospital)


@pytest.fixture
def world(tmp_path: Path) -> World:
    seal = generate_keypair()
    store = FakeStore()
    plan = StudyPlan(
        model=ModelSpec.linear(3, "classification"),
        training=LocalTrainingConfig(epochs=1, batch_size=8, lr=0.1),
        round_timeout_s=30.0,
    )
    study = study_id("roles-unit")
    record = StudyRecord(
        study=study,
        aggregator=AGGREGATOR,
        aggregator_seal_key=bytes(seal.public_key),
        min_updates=1,
        metadata_cid=store.put(plan.to_json_bytes()),
        hospitals=HOSPITALS,
    )
    return World(study, FakeChain(record), store, seal, plan, tmp_path)
