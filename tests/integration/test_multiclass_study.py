"""A hospital's own 10-class CSV, end to end over anvil and the js-ipfs node, as separate processes.

The worked example of the README: a raw digits file (64 pixel columns, a `digit` label 0..9) gets a
schema from the sample with an explicit task and label (`data schema`), is split across three
hospitals (`data split --csv`), the coordinator publishes the plan with the schema and no
statistics (`aggregator init --schema`), the hospitals enrol (`patients enroll --schema`) and the
aggregator and three trainers run three rounds as `consentfl` processes: round 0 is the statistics
round (every hospital ships the sums of its consented rows; round 0's model carries the study's
means, variances and counts, equal to the pooled rows' (the sums `data stats` prints, added) to
1e-9), rounds 1 and 2 train on rows standardized with them. The study trains as 10-class (a
10-logit model, accuracy and F1 for every class in the on-chain round metrics), and the audit's
`combine` check recomputes the statistics from the published sums. A hospital file that does not
match the schema is refused with the column and line named, before any key is generated or any
transaction sent: nothing is enrolled.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from eth_account import Account
from sklearn.datasets import load_digits
from typer.testing import CliRunner

from api.cli import app
from chain.audit.combine import Combine
from chain.round_ledger import RoundState
from chain.store import IpfsStore
from consent.ids import Bytes32, parse_address, parse_bytes32
from consent.records import RoundRecord
from fl.learners.statistics import study_stats
from fl.preprocess import LocalStats, combine
from fl.roles import StudyPlan
from fl.serialize import bytes_to_state_dict
from tests.integration.test_multiprocess_study import PASSWORD, STUDY, Study, _cli

pytestmark = pytest.mark.integration

ROUNDS = 3


def _raw_digits(path: Path) -> Path:
    bunch = load_digits()
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([f"px{i}" for i in range(64)] + ["digit"])
        # every third row (599 rows, every class ~60 times) keeps enrolment and training short
        for row, label in zip(bunch.data[::3], bunch.target[::3], strict=True):
            writer.writerow([f"{v:g}" for v in row] + [str(label)])
    return path


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env={"CONSENTFL_KEYRING_PASSWORD": PASSWORD})
    return result.exit_code, result.output


def test_a_ten_class_study_trains_as_ten_class_over_anvil_and_ipfs(
    tmp_path: Path, anvil: str, ipfs_node: str
) -> None:
    s = Study(tmp_path, anvil, ipfs_node)
    raw = _raw_digits(tmp_path / "digits.csv")
    schema = tmp_path / "schema.json"
    code, out = _run(
        "data",
        "schema",
        "--data",
        str(raw),
        "--task",
        "multiclass",
        "--label",
        "digit",
        "--out",
        str(schema),
    )
    assert code == 0, out
    assert json.loads(schema.read_text())["task"]["classes"] == [str(i) for i in range(10)]
    code, out = _run(
        "data",
        "split",
        "--csv",
        str(raw),
        "--schema",
        str(schema),
        "--hospitals",
        "3",
        "--out",
        str(tmp_path / "split"),
    )
    assert code == 0, out
    stats = []
    for k in (1, 2, 3):
        stats.append(tmp_path / f"stats-{k}.json")
        code, out = _run(
            "data",
            "stats",
            "--schema",
            str(schema),
            "--data",
            str(tmp_path / "split" / f"hospital-{k}.csv"),
            "--out",
            str(stats[-1]),
        )
        assert code == 0, out
    init = _cli(
        "aggregator",
        "init",
        "--seal-key-out",
        str(tmp_path / "seal.key"),
        "--schema",
        str(schema),
        "--ipfs",
        ipfs_node,
        "--epochs",
        "4",
        "--lr",
        "0.2",
        "--round-timeout",
        "0",
    )
    plan = StudyPlan.from_json_bytes(IpfsStore(ipfs_node).get(str(init["metadata_cid"])))
    assert (plan.model.task, plan.model.n_outputs, plan.model.n_features) == ("multiclass", 10, 64)
    assert plan.stats is None
    assert plan.statistics_round  # round 0 computes them

    keys = {name: s.funded_key(name) for name in ("aggregator", "h1", "h2", "h3")}
    hospitals = {
        n: parse_address(Account.from_key(keys[n].read_text().strip()).address)
        for n in ("h1", "h2", "h3")
    }
    s.coordinator.studies.create_study(
        s.study,
        aggregator=parse_address(Account.from_key(keys["aggregator"].read_text().strip()).address),
        aggregator_seal_key=Bytes32(parse_bytes32(str(init["seal_public_key"]))),
        min_updates=3,
        metadata_cid=str(init["metadata_cid"]),
    )
    for address in hospitals.values():
        s.coordinator.studies.add_hospital(s.study, address)

    # a file with a class outside the schema: refused naming column and line, nothing enrolled
    good = (tmp_path / "split" / "hospital-1.csv").read_text().splitlines()
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([*good[:5], good[5].rsplit(",", 1)[0] + ",11", *good[6:]]) + "\n")
    code, out = _run(
        "patients",
        "enroll",
        "--deployment",
        str(s.deployment),
        "--study",
        STUDY,
        "--key",
        str(keys["h1"]),
        "--data",
        str(bad),
        "--schema",
        str(schema),
        "--out",
        str(tmp_path / "bad-out.csv"),
        "--keys-out",
        str(tmp_path / "bad.keys"),
        "--rpc",
        anvil,
    )
    assert code == 1
    assert "unknown class" in out
    assert "line 6" in out
    assert "'digit'" in out
    assert s.chain.w3.eth.get_transaction_count(hospitals["h1"]) == 0
    assert not (tmp_path / "bad.keys").exists()
    assert not (tmp_path / "bad-out.csv").exists()

    for k, name in enumerate(("h1", "h2", "h3"), start=1):
        _cli(
            "patients",
            "enroll",
            "--deployment",
            str(s.deployment),
            "--study",
            STUDY,
            "--key",
            str(keys[name]),
            "--data",
            str(tmp_path / "split" / f"hospital-{k}.csv"),
            "--schema",
            str(schema),
            "--out",
            str(tmp_path / f"{name}.csv"),
            "--keys-out",
            str(tmp_path / f"{name}.keys"),
            "--rpc",
            anvil,
        )
    try:
        for name in ("h1", "h2", "h3"):
            s.start(
                name,
                "trainer",
                "--deployment",
                str(s.deployment),
                "--study",
                STUDY,
                "--key",
                str(keys[name]),
                "--data",
                str(tmp_path / f"{name}.csv"),
                "--ipfs",
                ipfs_node,
                "--state-dir",
                str(tmp_path / f"{name}-state"),
                "--rounds",
                str(ROUNDS),
                "--poll",
                "0.2",
            )
        s.start(
            "aggregator",
            "aggregator",
            "--deployment",
            str(s.deployment),
            "--study",
            STUDY,
            "--key",
            str(keys["aggregator"]),
            "--seal-key",
            str(tmp_path / "seal.key"),
            "--rounds",
            str(ROUNDS),
            "--ipfs",
            ipfs_node,
            "--test",
            str(tmp_path / "split" / "test.csv"),
            "--poll",
            "0.2",
        )
        s.wait_for(
            "every round to finalize",
            lambda: s.round_state(ROUNDS - 1) == RoundState.FINALIZED,
            240,
        )
        for name in ("aggregator", "h1", "h2", "h3"):
            assert s.procs[name].wait(timeout=60) == 0, s.tails()
    finally:
        s.stop_all()
    store = IpfsStore(ipfs_node)
    last = s.coordinator.rounds.get_round(s.study, ROUNDS - 1)
    metrics = json.loads(store.get(last.metrics_cid))
    assert len(metrics["accepted"]) == 3
    test = metrics["test"]
    assert test["task"] == "multiclass"
    assert len(test["f1_per_class"]) == 10
    assert test["accuracy"] > 0.8, test

    # round 0's model carries the statistics of the consented (here: all) rows of every hospital
    first = s.coordinator.rounds.get_round(s.study, 0)
    federated = study_stats(bytes_to_state_dict(store.get(first.model_cid)))
    pooled = combine(
        [LocalStats.from_json_dict(json.loads(f.read_text(encoding="utf-8"))) for f in stats]
    )
    assert (federated.rows, federated.hospitals) == (pooled.rows, 3)
    np.testing.assert_allclose(federated.means, pooled.means, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(federated.variances, pooled.variances, rtol=1e-9, atol=1e-12)
    assert federated.classes.tolist() == pooled.classes.tolist()
    # the audit's combine check recomputes the statistics from round 0's published sums
    rounds = tuple(s.coordinator.rounds.get_round_record(s.study, r) for r in range(ROUNDS))
    checks = Combine().run(_RoundsView(rounds, store))  # type: ignore[arg-type]
    assert [c.round for c in checks] == [0], checks  # sgd-delta rounds publish no sums
    assert checks[0].passed, checks[0].detail
    assert "statistics" in checks[0].detail


@dataclass(frozen=True)
class _RoundsView:
    """The two reads the combine check makes of an `AuditView`: the chain's rounds, the node."""

    rounds: tuple[RoundRecord, ...]
    artifacts: IpfsStore
