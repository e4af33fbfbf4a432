"""A closed-form ridge study over anvil and the js-ipfs node, every role its own process.

A raw regression CSV (scikit-learn's diabetes, ten features and a `progression` label) gets a
schema (`data schema --task regression`), is split across three hospitals, the plan is published
with the federated preprocessing statistics and `--learner ridge`, the hospitals enrol, and the
aggregator and three trainers run two rounds as `consentfl` processes. What the hospitals ship is
X^T X and X^T y of their consented rows, the aggregator adds them and solves: the model on IPFS
equals scikit-learn's `Ridge` fitted on all hospitals' rows pooled, to 1e-6; the round metrics
carry R^2 and MAE; and `audit verify` recomputes the solve from the published totals.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from eth_account import Account
from safetensors.numpy import load
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge

from chain.round_ledger import RoundState
from chain.store import IpfsStore
from consent.ids import Bytes32, parse_address, parse_bytes32
from fl.roles import StudyPlan
from fl.roles.study_data import load_hospital_data
from tests.integration.test_multiclass_study import _run
from tests.integration.test_multiprocess_study import STUDY, Study, _cli

pytestmark = pytest.mark.integration

ROUNDS = 2
NAMES = ("h1", "h2", "h3")


def _raw_diabetes(path: Path) -> Path:
    bunch = load_diabetes(scaled=False)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*bunch.feature_names, "progression"])
        for row, label in zip(bunch.data, bunch.target, strict=True):
            writer.writerow([f"{v:g}" for v in row] + [f"{label:g}"])
    return path


def _prepare(tmp: Path, ipfs_node: str) -> tuple[Path, dict[str, object]]:
    raw = _raw_diabetes(tmp / "diabetes.csv")
    schema = tmp / "schema.json"
    code, out = _run("data", "schema", "--data", str(raw), "--task", "regression",
                     "--label", "progression", "--out", str(schema))  # fmt: skip
    assert code == 0, out
    code, out = _run("data", "split", "--csv", str(raw), "--schema", str(schema),
                     "--hospitals", "3", "--out", str(tmp / "split"))  # fmt: skip
    assert code == 0, out
    stats = []
    for k in (1, 2, 3):
        stats.append(tmp / f"stats-{k}.json")
        part = tmp / "split" / f"hospital-{k}.csv"
        code, out = _run("data", "stats", "--schema", str(schema), "--data", str(part),
                         "--out", str(stats[-1]))  # fmt: skip
        assert code == 0, out
    init = _cli(
        "aggregator", "init", "--seal-key-out", str(tmp / "seal.key"), "--schema", str(schema),
        *[a for f in stats for a in ("--stats", str(f))], "--ipfs", ipfs_node,
        "--learner", "ridge", "--round-timeout", "0",
    )  # fmt: skip
    return schema, init


def test_a_ridge_study_over_anvil_and_ipfs_equals_scikit_learn_on_the_pooled_rows(
    tmp_path: Path, anvil: str, ipfs_node: str
) -> None:
    s = Study(tmp_path, anvil, ipfs_node)
    schema, init = _prepare(tmp_path, ipfs_node)
    store = IpfsStore(ipfs_node)
    plan = StudyPlan.from_json_bytes(store.get(str(init["metadata_cid"])))
    assert (plan.learner, plan.model.task, plan.model.n_features) == ("ridge", "regression", 10)

    keys = {name: s.funded_key(name) for name in ("aggregator", *NAMES)}
    s.coordinator.studies.create_study(
        s.study,
        aggregator=parse_address(Account.from_key(keys["aggregator"].read_text().strip()).address),
        aggregator_seal_key=Bytes32(parse_bytes32(str(init["seal_public_key"]))),
        min_updates=3,
        metadata_cid=str(init["metadata_cid"]),
    )
    for name in NAMES:
        address = Account.from_key(keys[name].read_text().strip()).address
        s.coordinator.studies.add_hospital(s.study, parse_address(address))
    for k, name in enumerate(NAMES, start=1):
        _cli(
            "patients", "enroll", "--deployment", str(s.deployment), "--study", STUDY,
            "--key", str(keys[name]), "--data", str(tmp_path / "split" / f"hospital-{k}.csv"),
            "--schema", str(schema), "--out", str(tmp_path / f"{name}.csv"),
            "--keys-out", str(tmp_path / f"{name}.keys"), "--rpc", anvil,
        )  # fmt: skip
    try:
        for name in NAMES:
            s.start(
                name, "trainer", "--deployment", str(s.deployment), "--study", STUDY,
                "--key", str(keys[name]), "--data", str(tmp_path / f"{name}.csv"),
                "--ipfs", ipfs_node, "--state-dir", str(tmp_path / f"{name}-state"),
                "--rounds", str(ROUNDS), "--poll", "0.2",
            )  # fmt: skip
        s.start(
            "aggregator", "aggregator", "--deployment", str(s.deployment), "--study", STUDY,
            "--key", str(keys["aggregator"]), "--seal-key", str(tmp_path / "seal.key"),
            "--rounds", str(ROUNDS), "--ipfs", ipfs_node,
            "--test", str(tmp_path / "split" / "test.csv"), "--poll", "0.2",
        )  # fmt: skip
        s.wait_for(
            "every round to finalize",
            lambda: s.round_state(ROUNDS - 1) == RoundState.FINALIZED,
            240,
        )
        for name in ("aggregator", *NAMES):
            assert s.procs[name].wait(timeout=60) == 0, s.tails()
    finally:
        s.stop_all()

    pooled = [load_hospital_data(tmp_path / f"{name}.csv", plan) for name in NAMES]
    x = np.vstack([p.features.double().numpy() for p in pooled])
    y = np.concatenate([p.labels.double().numpy() for p in pooled])
    reference = Ridge(alpha=1.0).fit(x, y)
    last = s.coordinator.rounds.get_round(s.study, ROUNDS - 1)
    model = load(store.get(last.model_cid))
    np.testing.assert_allclose(model["0.weight"][0], reference.coef_, rtol=0, atol=1e-6)
    assert abs(float(model["0.bias"][0]) - reference.intercept_) < 1e-6
    metrics = json.loads(store.get(last.metrics_cid))
    assert len(metrics["accepted"]) == 3
    assert metrics["test"]["task"] == "regression"
    assert 0.3 < metrics["test"]["r2"] < 0.7, metrics["test"]  # diabetes: R^2 about 0.5
    assert metrics["test"]["mae"] > 0

    code, out = _run("audit", "verify", "--deployment", str(s.deployment), "--study", STUDY,
                     "--ipfs", ipfs_node, "--rpc", anvil, "--json")  # fmt: skip
    report = json.loads(out)
    combine = [c for c in report["checks"] if c["check"] == "combine"]
    assert [c["round"] for c in combine] == list(range(ROUNDS))
    assert all(c["passed"] for c in combine), combine
    assert code == 0, out
