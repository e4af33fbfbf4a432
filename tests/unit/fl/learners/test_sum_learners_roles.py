"""The sufficient-statistics learners (closed-form ridge, federated k-means) through the real
trainer and aggregator roles, over the in-memory ledger and store: no special case in the roles,
the result equal to scikit-learn's on the pooled rows, and the lies a hospital could tell in its
sums rejected with the reason in the round metrics."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.datasets import load_diabetes, load_iris
from sklearn.linear_model import LinearRegression
from sklearn.linear_model import Ridge as SkRidge
from sklearn.metrics import adjusted_rand_score
from sklearn.preprocessing import StandardScaler

from chain.audit.combine import Combine
from consent.combines import COMBINE_EXTENSION
from consent.ids import Bytes32, study_id
from consent.records import RoundRecord
from consent.sealing import generate_keypair
from fl.data import HospitalDataset, RecordDataset
from fl.errors import AggregationError
from fl.learners import FederatedKMeans, Ridge, kmeans
from fl.learners.federated_kmeans import N_SEEDINGS, is_seeded
from fl.models import ModelSpec
from fl.ports import StudyRecord
from fl.roles import Aggregator, MetadataError, StudyPlan, Trainer
from fl.serialize import bytes_to_state_dict, state_dict_to_bytes
from fl.strategy import ClientUpdate
from fl.train import LocalResult, LocalTrainingConfig
from tests.unit.fl.roles.conftest import AGGREGATOR, HOSPITALS, patient_of
from tests.unit.fl.roles.fakes import FakeChain, FakeConsent, FakeLedger, FakeStore


class _Study:
    """Two hospitals (rows split alternately), the fakes and a plan with the given learner."""

    def __init__(self, tmp: Path, x: np.ndarray, y: np.ndarray, plan: StudyPlan) -> None:
        self.plan = plan
        self.store = FakeStore()
        self.seal = generate_keypair()
        self.study = study_id(f"sum-learners-{plan.learner}")
        record = StudyRecord(
            study=self.study,
            aggregator=AGGREGATOR,
            aggregator_seal_key=bytes(self.seal.public_key),
            min_updates=2,
            metadata_cid=self.store.put(plan.to_json_bytes()),
            hospitals=HOSPITALS,
        )
        self.chain = FakeChain(record)
        self.parts = [(x[h::2], y[h::2]) for h in (0, 1)]
        self.tmp = tmp

    def dataset(self, h: int) -> HospitalDataset:
        x, y = self.parts[h]
        patients = tuple(patient_of(h, i) for i in range(len(x)))
        for patient in patients:
            self.chain.grant(patient, HOSPITALS[h])
        names = tuple(f"f{i}" for i in range(x.shape[1]))
        return HospitalDataset(
            patients,
            torch.from_numpy(x.astype(np.float32)),
            torch.from_numpy(y.astype(np.float32)),
            self.plan.model.task,
            names,
        )

    def trainer(self, h: int, dataset: HospitalDataset, **kwargs: object) -> Trainer:
        return Trainer(
            study=self.study,
            ledger=FakeLedger(self.chain, HOSPITALS[h]),
            store=self.store,
            consent=FakeConsent(self.chain),
            dataset=dataset,
            state_dir=self.tmp / f"hospital-{h}",
            **kwargs,  # type: ignore[arg-type]
        )

    def aggregator(self, rounds: int, test: RecordDataset | None = None) -> Aggregator:
        return Aggregator(
            study=self.study,
            ledger=FakeLedger(self.chain, AGGREGATOR),
            store=self.store,
            seal_key=self.seal.private_key,
            rounds=rounds,
            test_set=test,
        )

    def model(self, round_: int) -> dict[str, torch.Tensor]:
        data = self.store.get(self.chain.rounds[round_].model_cid)
        return bytes_to_state_dict(data)

    def metrics(self, round_: int) -> dict[str, object]:
        loaded: dict[str, object] = json.loads(
            self.store.get(self.chain.rounds[round_].metrics_cid)
        )
        return loaded


def _pooled(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    # the rows as the hospitals hold them (float32 files), in float64 for the reference fit
    x = np.vstack([p[0].astype(np.float32) for p in parts]).astype(np.float64)
    y = np.concatenate([p[1].astype(np.float32) for p in parts]).astype(np.float64)
    return x, y


def _diabetes() -> tuple[np.ndarray, np.ndarray]:
    bunch = load_diabetes()
    return StandardScaler().fit_transform(bunch.data), bunch.target / 100.0


def _ridge_plan(learner: str) -> StudyPlan:
    return StudyPlan(model=ModelSpec.linear(10, "regression"), learner=learner, round_timeout_s=0.0)


@pytest.mark.parametrize(("learner", "reference"), [
    ("ridge", SkRidge(alpha=1.0)), ("least-squares", LinearRegression()),
])  # fmt: skip
def test_closed_form_regression_over_the_roles_equals_scikit_learn_on_the_pooled_rows(
    tmp_path: Path, learner: str, reference: SkRidge | LinearRegression
) -> None:
    x, y = _diabetes()
    s = _Study(tmp_path, x, y, _ridge_plan(learner))
    datasets = [s.dataset(h) for h in (0, 1)]
    test = RecordDataset(
        tuple(f"r{i}" for i in range(len(x))),
        torch.from_numpy(x.astype(np.float32)),
        torch.from_numpy(y.astype(np.float32)),
        "regression",
        datasets[0].feature_names,
    )
    aggregator = s.aggregator(rounds=1, test=test)
    aggregator.start()
    for h in (0, 1):
        s.trainer(h, datasets[h]).step()
    outcome = aggregator.poll()

    assert outcome is not None
    pooled_x, pooled_y = _pooled(s.parts)
    reference.fit(pooled_x, pooled_y)
    model = s.model(0)
    assert model["0.weight"].dtype == torch.float64
    np.testing.assert_allclose(model["0.weight"].numpy()[0], reference.coef_, rtol=0, atol=1e-6)
    assert abs(float(model["0.bias"][0]) - reference.intercept_) < 1e-6
    metrics = s.metrics(0)
    test_metrics = metrics["test"]
    assert isinstance(test_metrics, dict)
    assert test_metrics["task"] == "regression"
    assert abs(test_metrics["r2"] - reference.score(pooled_x, pooled_y)) < 1e-6
    decisions = metrics["decisions"]
    assert isinstance(decisions, list)
    assert [d["kept"] for d in decisions] == [True, True]
    assert abs(sum(d["weight"] for d in decisions) - 1.0) < 1e-12


def test_a_hospital_whose_gram_matrix_is_no_gram_matrix_is_rejected_with_the_reason(
    tmp_path: Path,
) -> None:
    """The lie: inflating one feature's X^T X entry (not symmetric any more) to pull the fit."""
    x, y = _diabetes()
    s = _Study(tmp_path, x, y, _ridge_plan("ridge"))
    datasets = [s.dataset(h) for h in (0, 1)]
    honest = Ridge()

    def lying(
        spec: ModelSpec,
        base: Mapping[str, torch.Tensor],
        dataset: HospitalDataset,
        config: LocalTrainingConfig,
    ) -> LocalResult:
        result = honest.local_step(spec, base, dataset, config)
        gram = result.delta["gram"].clone()
        gram[0, 1] += 1e6
        return LocalResult({**result.delta, "gram": gram}, result.num_samples, result.train_loss)

    aggregator = s.aggregator(rounds=1)
    aggregator.start()
    s.trainer(0, datasets[0]).step()
    s.trainer(1, datasets[1], train_fn=lying).step()
    outcome = aggregator.poll()

    assert outcome is not None
    assert [r.hospital for r in outcome.rejected] == [HOSPITALS[1]]
    assert "not symmetric" in outcome.rejected[0].reason
    only_honest = SkRidge(alpha=1.0).fit(*_pooled(s.parts[:1]))
    np.testing.assert_allclose(s.model(0)["0.weight"].numpy()[0], only_honest.coef_, atol=1e-6)


def test_a_ridge_plan_with_a_classifier_or_a_robust_strategy_is_refused() -> None:
    with pytest.raises(MetadataError, match="linear regression"):
        StudyPlan(model=ModelSpec.linear(3, "classification"), learner="ridge")
    with pytest.raises(MetadataError, match="kmeans model"):
        StudyPlan(model=ModelSpec.linear(3, "regression"), learner="kmeans")
    with pytest.raises(MetadataError, match="learner"):
        StudyPlan(model=ModelSpec.kmeans(3, 2))  # sgd-delta cannot train centroids


ROUNDS_KMEANS = 12


def test_federated_kmeans_over_the_roles_reaches_scikit_learns_ari_on_the_pooled_rows(
    tmp_path: Path,
) -> None:
    bunch = load_iris()
    x = StandardScaler().fit_transform(bunch.data)
    y = bunch.target.astype(np.float64)
    plan = StudyPlan(
        model=ModelSpec.kmeans(4, 3), learner="kmeans", init_seed=3, round_timeout_s=0.0
    )
    s = _Study(tmp_path, x, y, plan)
    datasets = [s.dataset(h) for h in (0, 1)]
    pooled_x, pooled_y = _pooled(s.parts)
    test = RecordDataset(
        tuple(f"r{i}" for i in range(len(pooled_x))),
        torch.from_numpy(pooled_x.astype(np.float32)),
        torch.from_numpy(pooled_y.astype(np.float32)),
        "clustering",
        datasets[0].feature_names,
    )
    aggregator = s.aggregator(rounds=ROUNDS_KMEANS, test=test)
    trainers = [s.trainer(h, datasets[h]) for h in (0, 1)]
    aggregator.start()
    for _ in range(ROUNDS_KMEANS):
        for trainer in trainers:
            trainer.step()
        assert aggregator.poll() is not None

    assert not is_seeded(s.plan.initial_state())
    assert is_seeded(s.model(0))  # round 0 is the seeding round: its model is the agreed seeds
    central = KMeans(n_clusters=3, n_init=10, random_state=0).fit(pooled_x)
    central_ari = adjusted_rand_score(pooled_y, central.labels_)
    last = s.metrics(ROUNDS_KMEANS - 1)["test"]
    assert isinstance(last, dict)
    assert last["task"] == "clustering"
    assert last["ari"] >= 0.99 * central_ari, (last, central_ari)
    assert last["inertia"] <= central.inertia_ * 1.01
    first = s.metrics(1)["test"]
    assert isinstance(first, dict)
    assert first["inertia"] >= last["inertia"]  # Lloyd steps never raise the inertia
    # the audit redoes the seeding (k-means++ with the study's seed) and every Lloyd step
    checks = Combine().run(_View(tuple(s.chain.rounds), s.store))
    assert [c.round for c in checks] == list(range(ROUNDS_KMEANS))
    assert all(c.passed for c in checks), [c.detail for c in checks if not c.passed]
    assert "seeding" in checks[0].detail
    assert "lloyd" in checks[1].detail


def test_kmeans_counts_that_are_not_counts_are_rejected() -> None:
    """The lie: negative counts, to drag a centroid away from the rows."""
    learner = FederatedKMeans()
    base = {**learner.initial_state(ModelSpec.kmeans(2, 2), seed=0)}
    base["seeded"] = torch.ones(1, dtype=torch.float64)
    n = N_SEEDINGS
    good = {
        "sums": torch.ones((n, 2, 2), dtype=torch.float64),
        "counts": torch.tensor([[1.0, 2.0]] * n, dtype=torch.float64),
        "inertia": torch.full((n,), 0.5, dtype=torch.float64),
    }
    bad = {**good, "counts": torch.tensor([[-3.0, 2.0]] * n, dtype=torch.float64)}
    template = learner.update_template(base)
    kept, rejected = learner.screen(
        template, [ClientUpdate("a", good, 3), ClientUpdate("b", bad, 3)]
    )
    assert [u.client_id for u in kept] == ["a"]
    assert [r.update.client_id for r in rejected] == ["b"]
    assert isinstance(rejected[0].error, AggregationError)
    assert "whole numbers" in str(rejected[0].error)


@dataclass(frozen=True)
class _View:
    """The two reads the combine check makes of an `AuditView`."""

    rounds: tuple[RoundRecord, ...]
    artifacts: FakeStore


def _ridge_round(tmp_path: Path) -> _Study:
    x, y = _diabetes()
    s = _Study(tmp_path, x, y, _ridge_plan("ridge"))
    datasets = [s.dataset(h) for h in (0, 1)]
    aggregator = s.aggregator(rounds=1)
    aggregator.start()
    for h in (0, 1):
        s.trainer(h, datasets[h]).step()
    assert aggregator.poll() is not None
    return s


def test_the_audit_recomputes_the_ridge_solve_from_the_published_sums(tmp_path: Path) -> None:
    s = _ridge_round(tmp_path)
    (check,) = Combine().run(_View(tuple(s.chain.rounds), s.store))
    assert check.passed, check.detail
    assert check.round == 0
    assert "ridge ridge" in check.detail


def test_a_model_the_published_sums_do_not_give_fails_the_combine_check(tmp_path: Path) -> None:
    """The lie: the aggregator publishes (and records on chain) a model nudged away from the
    solve of the sums it published, e.g. to favour one hospital's rows."""
    s = _ridge_round(tmp_path)
    honest = s.model(0)
    nudged = {**honest, "0.bias": honest["0.bias"] + 0.5}
    data = state_dict_to_bytes(nudged)
    lying = replace(
        s.chain.rounds[0],
        model_cid=s.store.put(data),
        model_hash=Bytes32(hashlib.sha256(data).digest()),
    )

    (check,) = Combine().run(_View((lying,), s.store))

    assert not check.passed
    assert "'0.bias' is not what the published sums give" in check.detail


def test_published_sums_that_disagree_with_the_model_fail_the_combine_check(
    tmp_path: Path,
) -> None:
    """The same lie told the other way: totals edited after the fact."""
    s = _ridge_round(tmp_path)
    body = json.loads(s.store.get(s.chain.rounds[0].metrics_cid))
    totals = body["extensions"][COMBINE_EXTENSION]
    totals["tensors"]["moment"][0] += 100.0
    edited = replace(s.chain.rounds[0], metrics_cid=s.store.put(json.dumps(body).encode()))

    (check,) = Combine().run(_View((edited,), s.store))

    assert not check.passed
    assert "'0.weight' is not what the published sums give" in check.detail


def test_kmeans_keeps_the_seeding_of_lowest_federated_inertia_and_the_audit_holds_it(
    tmp_path: Path,
) -> None:
    """The lie: the aggregator keeps another seeding than the one whose inertia, as the
    hospitals reported it, is lowest (say, one that splits a cluster it wants split)."""
    bunch = load_iris()
    x = StandardScaler().fit_transform(bunch.data)
    plan = StudyPlan(
        model=ModelSpec.kmeans(4, 3), learner="kmeans", init_seed=3, round_timeout_s=0.0
    )
    s = _Study(tmp_path, x, bunch.target.astype(np.float64), plan)
    trainers = [s.trainer(h, s.dataset(h)) for h in (0, 1)]
    aggregator = s.aggregator(rounds=2)
    aggregator.start()
    for _ in range(2):
        for trainer in trainers:
            trainer.step()
        assert aggregator.poll() is not None

    seeded, model = s.model(0), s.model(1)
    assert seeded["candidates"].shape == (N_SEEDINGS, 3, 4)
    assert len({tuple(c.flatten().tolist()) for c in seeded["candidates"]}) > 1  # distinct seeds
    totals = s.metrics(1)["extensions"][COMBINE_EXTENSION]["tensors"]  # type: ignore[index]
    inertia = np.asarray(totals["inertia"])
    best = int(np.argmin(inertia))
    assert torch.equal(model["centroids"], model["candidates"][best])
    pooled = np.vstack([p[0].astype(np.float32) for p in s.parts]).astype(np.float64)
    for i in (0, best):  # the reported inertias are the pooled rows' inertias of the seedings
        labels = kmeans.assign(pooled, seeded["candidates"][i].numpy())
        own = float(((pooled - seeded["candidates"][i].numpy()[labels]) ** 2).sum())
        assert abs(own - inertia[i]) < 1e-6 * own
    worst = int(np.argmax(inertia))
    forged = {**model, "centroids": model["candidates"][worst].clone()}
    data = state_dict_to_bytes(forged)
    lying = replace(
        s.chain.rounds[1],
        model_cid=s.store.put(data),
        model_hash=Bytes32(hashlib.sha256(data).digest()),
    )
    checks = Combine().run(_View((s.chain.rounds[0], lying), s.store))
    assert [c.passed for c in checks] == [True, False]
    assert "'centroids' is not what the published sums give" in checks[1].detail
