"""The study's preprocessing statistics through the round protocol (issue 12, item 3).

A plan with a standardizing schema and no statistics runs round 0 as a statistics round
(`fl.learners.statistics`): the hospitals ship the sums of their consented rows, the aggregator
adds them and round 0's model carries the study statistics; every later round encodes with them.
The tests hold the result against the pooled consented rows, show the audit recomputing the
statistics and catching a forged one, and a hospital that standardizes on its own rows caught
by replay."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
import torch

from chain.audit.combine import Combine
from consent.combines import COMBINE_EXTENSION
from consent.ids import Bytes32, study_id
from consent.records import RoundRecord
from consent.sealing import generate_keypair
from fl.data import HospitalDataset
from fl.learners import SgdDelta
from fl.learners.statistics import PreprocessingStatistics, is_ready, study_stats
from fl.models import ModelSpec
from fl.ports import StudyRecord
from fl.preprocess import LocalStats, combine, encode_dataset
from fl.roles import Aggregator, MetadataError, StudyPlan, Trainer
from fl.roles.replay import replay_round
from fl.roles.study_data import load_hospital_data
from fl.schema import Column, StudySchema, TaskSpec
from fl.serialize import bytes_to_state_dict, state_dict_to_bytes
from fl.train import LocalResult, LocalTrainingConfig
from tests.unit.fl.roles.conftest import AGGREGATOR, HOSPITALS, patient_of
from tests.unit.fl.roles.fakes import FakeChain, FakeConsent, FakeLedger, FakeStore

SCHEMA = StudySchema(
    columns=(
        Column(name="age", missing="impute"),
        Column(name="bmi"),
        Column(name="ward", type="categorical", levels=("a", "b", "c")),
    ),
    task=TaskSpec(kind="multiclass", classes=("low", "mid", "high")),
    label="risk",
)
AUDITOR = generate_keypair()
PLAN = StudyPlan(
    model=ModelSpec.linear(5, "multiclass", n_outputs=3),
    training=LocalTrainingConfig(epochs=1, batch_size=8, lr=0.1),
    schema=SCHEMA,
    round_timeout_s=0.0,
    auditor_seal_keys=(bytes(AUDITOR.public_key),),
)
ROWS = 30


def _rows(h: int) -> list[tuple[float | None, float, str, str]]:
    """Hospital `h`'s rows: different scales and wards per hospital, some ages missing."""
    rng = np.random.default_rng(h)
    rows: list[tuple[float | None, float, str, str]] = []
    for i in range(ROWS):
        age = None if i % 7 == 3 else round(float(rng.normal(40 + 15 * h, 9)), 3)
        bmi = round(float(rng.normal(24 + 3 * h, 2 + h)), 4)
        rows.append((age, bmi, "abc"[(i + h) % (2 + h)], ("low", "mid", "high")[i % 3]))
    return rows


@dataclass
class _Study:
    tmp: Path
    store: FakeStore
    chain: FakeChain
    seal: object
    files: list[Path]

    @classmethod
    def create(cls, tmp: Path, plan: StudyPlan = PLAN) -> _Study:
        store, seal = FakeStore(), generate_keypair()
        record = StudyRecord(
            study=study_id("statistics-round"),
            aggregator=AGGREGATOR,
            aggregator_seal_key=bytes(seal.public_key),
            min_updates=2,
            metadata_cid=store.put(plan.to_json_bytes()),
            hospitals=HOSPITALS,
        )
        chain = FakeChain(record)
        files = []
        for h in (0, 1):
            lines = ["patient,age,bmi,ward,risk"]
            for i, (age, bmi, ward, risk) in enumerate(_rows(h)):
                patient = patient_of(h, i)
                chain.grant(patient, HOSPITALS[h])
                lines.append(f"{patient},{'' if age is None else age},{bmi},{ward},{risk}")
            files.append(tmp / f"hospital-{h}.csv")
            files[-1].write_text("\n".join(lines) + "\n")
        return cls(tmp, store, chain, seal, files)

    def dataset(self, h: int) -> HospitalDataset:
        return load_hospital_data(self.files[h], PLAN)

    def trainer(self, h: int, **kwargs: object) -> Trainer:
        return Trainer(
            study=self.chain.study.study,
            ledger=FakeLedger(self.chain, HOSPITALS[h]),
            store=self.store,
            consent=FakeConsent(self.chain),
            dataset=self.dataset(h),
            state_dir=self.tmp / f"state-{h}",
            **kwargs,  # type: ignore[arg-type]
        )

    def aggregator(self, rounds: int) -> Aggregator:
        return Aggregator(
            study=self.chain.study.study,
            ledger=FakeLedger(self.chain, AGGREGATOR),
            store=self.store,
            seal_key=self.seal.private_key,  # type: ignore[attr-defined]
            rounds=rounds,
        )

    def run(self, rounds: int, trainers: list[Trainer] | None = None) -> None:
        trainers = trainers or [self.trainer(h) for h in (0, 1)]
        aggregator = self.aggregator(rounds)
        aggregator.start()
        for _ in range(rounds):
            for trainer in trainers:
                assert trainer.step() is not None
            assert aggregator.poll() is not None

    def model(self, round_: int) -> dict[str, torch.Tensor]:
        return bytes_to_state_dict(self.store.get(self.chain.rounds[round_].model_cid))


@dataclass(frozen=True)
class _View:
    """The two reads the combine check makes of an `AuditView`."""

    rounds: tuple[RoundRecord, ...]
    artifacts: FakeStore


def _consented_pool(revoked: set[int]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    ages, bmis, wards = [], [], []
    for h in (0, 1):
        for i, (age, bmi, ward, _) in enumerate(_rows(h)):
            if (h, i) in revoked:
                continue
            ages.append(np.nan if age is None else age)
            bmis.append(bmi)
            wards.append(ward)
    return np.array(ages), np.array(bmis), wards


def test_the_federated_mean_and_variance_equal_the_pooled_consented_rows(tmp_path: Path) -> None:
    s = _Study.create(tmp_path)
    s.chain.revoke(patient_of(1, 4))  # a revoked patient's row is in no sum
    s.run(rounds=1)

    model = s.model(0)
    assert is_ready(model)
    assert not is_ready(PLAN.initial_state())
    stats = study_stats(model)
    ages, bmis, wards = _consented_pool({(1, 4)})
    np.testing.assert_allclose(stats.means, [np.nanmean(ages), bmis.mean()], rtol=1e-9, atol=0)
    np.testing.assert_allclose(stats.variances, [np.nanvar(ages), bmis.var()], rtol=1e-9, atol=0)
    assert stats.levels[0].tolist() == [wards.count(w) for w in "abc"]
    assert (stats.rows, stats.hospitals) == (2 * ROWS - 1, 2)
    assert stats.classes.sum() == 2 * ROWS - 1
    # round 0's model is the inner learner's initial model, untouched, with the statistics
    inner = SgdDelta().initial_state(PLAN.model, seed=PLAN.init_seed)
    assert all(torch.equal(model[k], v) for k, v in inner.items())
    # the audit recomputes the statistics from the published sums
    (check,) = Combine().run(_View(tuple(s.chain.rounds), s.store))
    assert check.passed, check.detail
    assert "statistics" in check.detail


def test_every_hospital_encodes_with_the_federated_statistics(tmp_path: Path) -> None:
    s = _Study.create(tmp_path)
    s.run(rounds=2)

    federated = study_stats(s.model(0))
    rows = s.dataset(0)
    assert bool(torch.isnan(rows.features).all())  # nothing to train on before round 0's
    encoded = encode_dataset(rows, federated)
    own = encode_dataset(rows, combine([LocalStats.of(rows.table)]))  # type: ignore[arg-type]
    assert not torch.allclose(encoded.features, own.features)
    # round 1 trained on the encoded rows (what it trained on exactly: the replay test below)
    assert s.chain.rounds[1].base_model_hash == s.chain.rounds[0].model_hash
    assert bool(torch.isfinite(torch.cat([v.flatten() for v in s.model(1).values()])).all())
    assert study_stats(s.model(1)).means.tolist() == federated.means.tolist()  # carried over


def _own_stats_step(
    spec: ModelSpec,
    base: Mapping[str, torch.Tensor],
    dataset: HospitalDataset,
    config: LocalTrainingConfig,
) -> LocalResult:
    """The lie: after the statistics round, standardize on the hospital's own rows alone."""
    learner = PLAN.make_learner()
    assert isinstance(learner, PreprocessingStatistics)
    if not is_ready(base):
        return learner.local_step(spec, base, dataset, config)
    assert dataset.table is not None
    own = encode_dataset(dataset, combine([LocalStats.of(dataset.table)]))
    inner = {k: v for k, v in base.items() if not k.startswith("preprocessing.")}
    return learner.inner.local_step(spec, inner, own, config)


def test_a_hospital_that_standardizes_on_its_own_rows_fails_replay(tmp_path: Path) -> None:
    s = _Study.create(tmp_path)
    trainers = [s.trainer(0), s.trainer(1, train_fn=_own_stats_step)]
    s.run(rounds=2, trainers=trainers)

    def replay(h: int) -> dict[str, bool]:
        findings = replay_round(
            plan=PLAN,
            study=s.chain.study.study,
            record=s.chain.rounds[1],
            hospital=HOSPITALS[h],
            rows=s.dataset(h),
            store=s.store,
            auditor_key=AUDITOR.private_key,
        )
        return {f.step: f.passed for f in findings}

    assert replay(0) == {"data-root": True, "update": True}
    assert replay(1) == {"data-root": True, "update": False}


def test_a_forged_statistic_in_round_0s_model_fails_the_combine_check(tmp_path: Path) -> None:
    """The lie: the aggregator records statistics its published sums do not give."""
    s = _Study.create(tmp_path)
    s.run(rounds=1)
    honest = s.model(0)
    forged = {**honest, "preprocessing.means": honest["preprocessing.means"] + 1.0}
    data = state_dict_to_bytes(forged)
    lying = replace(
        s.chain.rounds[0],
        model_cid=s.store.put(data),
        model_hash=Bytes32(hashlib.sha256(data).digest()),
    )

    (check,) = Combine().run(_View((lying,), s.store))

    assert not check.passed
    assert "'preprocessing.means' is not what the published sums give" in check.detail


def test_published_statistics_sums_edited_after_the_fact_fail_the_combine_check(
    tmp_path: Path,
) -> None:
    s = _Study.create(tmp_path)
    s.run(rounds=1)
    body = json.loads(s.store.get(s.chain.rounds[0].metrics_cid))
    body["extensions"][COMBINE_EXTENSION]["tensors"]["squares"][1] *= 2
    edited = replace(s.chain.rounds[0], metrics_cid=s.store.put(json.dumps(body).encode()))

    (check,) = Combine().run(_View((edited,), s.store))

    assert not check.passed
    assert "'preprocessing.variances' is not what the published sums give" in check.detail


def _lying_sums(
    spec: ModelSpec,
    base: Mapping[str, torch.Tensor],
    dataset: HospitalDataset,
    config: LocalTrainingConfig,
) -> LocalResult:
    """The lie: class counts inflated to weigh more in the study's statistics."""
    result = PLAN.make_learner().local_step(spec, base, dataset, config)
    classes = result.delta["statistics.classes"] * 10
    return replace(result, delta={**result.delta, "statistics.classes": classes})


def test_sums_that_cannot_be_a_hospitals_are_rejected_with_the_reason(tmp_path: Path) -> None:
    s = _Study.create(tmp_path)
    trainers = [s.trainer(0), s.trainer(1, train_fn=_lying_sums)]
    aggregator = s.aggregator(1)
    aggregator.start()
    for trainer in trainers:
        trainer.step()
    outcome = aggregator.poll()

    assert outcome is not None
    assert [r.hospital for r in outcome.rejected] == [HOSPITALS[1]]
    assert "do not add up to the rows" in outcome.rejected[0].reason
    assert study_stats(s.model(0)).hospitals == 1


def test_a_statistics_round_is_refused_with_a_robust_strategy() -> None:
    with pytest.raises(MetadataError, match="statistics in the plan"):
        replace(PLAN, strategy="median")
    assert not replace(PLAN, stats=combine([_one_stats()])).statistics_round


def _one_stats() -> LocalStats:
    return LocalStats(
        rows=2,
        counts=np.array([2.0, 2.0]),
        sums=np.array([80.0, 50.0]),
        squares=np.array([3300.0, 1260.0]),
        levels=(np.array([1.0, 1.0, 0.0]),),
        classes=np.array([1.0, 1.0, 0.0]),
    )


def test_a_standardized_clustering_study_runs_statistics_then_seeding_then_lloyd(
    tmp_path: Path,
) -> None:
    """The statistics round precedes any learner: here k-means, whose seeding is round 1."""
    schema = StudySchema(
        columns=(Column(name="age", missing="impute"), Column(name="bmi")),
        task=TaskSpec(kind="clustering", k=2),
    )
    plan = StudyPlan(
        model=ModelSpec.kmeans(2, 2), learner="kmeans", schema=schema, round_timeout_s=0.0
    )
    s = _Study.create(tmp_path, plan)
    for h in (0, 1):  # the same rows without the ward and the label
        lines = s.files[h].read_text().splitlines()
        rows = [",".join(line.split(",")[:3]) for line in lines]
        s.files[h].write_text("\n".join(rows) + "\n")
    trainers = [
        Trainer(
            study=s.chain.study.study,
            ledger=FakeLedger(s.chain, HOSPITALS[h]),
            store=s.store,
            consent=FakeConsent(s.chain),
            dataset=load_hospital_data(s.files[h], plan),
            state_dir=tmp_path / f"state-{h}",
        )
        for h in (0, 1)
    ]
    s.run(rounds=4, trainers=trainers)

    checks = Combine().run(_View(tuple(s.chain.rounds), s.store))
    assert [c.round for c in checks] == [0, 1, 2, 3]
    assert all(c.passed for c in checks), [c.detail for c in checks]
    assert "statistics" in checks[0].detail
    assert "seeding" in checks[1].detail
    assert all("lloyd" in c.detail for c in checks[2:])
    model = s.model(3)
    stats = study_stats(model)
    ages, bmis, _ = _consented_pool(set())
    np.testing.assert_allclose(stats.means, [np.nanmean(ages), bmis.mean()], rtol=1e-9, atol=0)
    # the centroids live in the standardized space of the study statistics
    assert bool((model["centroids"].abs() < 5).all())
