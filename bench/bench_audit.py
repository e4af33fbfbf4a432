"""The key-holding audit (issue 11): replay of one hospital's round, and the audit with and
without recomputing every aggregate, over an embedded study (eth-tester, local store).

A study of 3 hospitals x 200 rows (MLP 10-32-16-1, 2 local epochs), 3 rounds, one revocation
between rounds 1 and 2, every update sealed to the aggregator and one auditor. Measures:
`AuditVerifier.verify` with the default checks, the same plus `recompute` (opens every update
with the auditor's key and rebuilds every model), and `replay_round` for hospital 0's last round
(what `consentfl audit replay` runs after reading the chain); each the median of `--repeat`
runs. Every run must pass: a figure over a failing audit would measure nothing.

Run: .venv/bin/python bench/bench_audit.py [--repeat 3]
Merges its figures into bench/results/audit.json (key "recompute_replay") with targets.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch

from api.embedded import EmbeddedStudy
from chain.audit import DEFAULT_CHECKS, AuditVerifier
from chain.audit.recompute import Recompute
from chain.exclusions import ExclusionProofs
from consent.sealing import generate_keypair
from fl.data import RecordDataset
from fl.models import ModelSpec
from fl.roles.plan import StudyPlan
from fl.roles.recompute import AggregateRecomputer
from fl.roles.replay import replay_round
from fl.train import LocalTrainingConfig

RESULTS = Path(__file__).with_name("results") / "audit.json"
T = TypeVar("T")
WHAT = (
    "replay of one hospital's round, and the audit with and without recompute, over an "
    "embedded study (eth-tester, local store)"
)


def _records(hospital: int, n: int) -> RecordDataset:
    generator = torch.Generator().manual_seed(100 + hospital)
    features = torch.randn(n, 10, generator=generator)
    return RecordDataset(
        record_ids=tuple(f"h{hospital}-r{i}" for i in range(n)),
        features=features,
        labels=(features[:, 0] - features[:, 3] > 0).float(),
        task="classification",
        feature_names=tuple(f"f{i}" for i in range(10)),
    )


def _median(fn: Callable[[], T], repeat: int) -> tuple[float, T]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    assert result is not None
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    auditor = generate_keypair()
    plan = StudyPlan(
        model=ModelSpec.mlp(10, "classification", (32, 16)),
        training=LocalTrainingConfig(epochs=2, batch_size=16, lr=0.05),
        auditor_seal_keys=(bytes(auditor.public_key),),
    )
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as tmp:
        work = Path(tmp)
        study = EmbeddedStudy.create(work, hospitals=3, plan=plan, rounds=3)
        enrolments = [study.enroll(k, _records(k, 200)) for k in range(3)]
        study.run_round()
        study.run_round()
        study.revoke(enrolments[0].keys["h0-r5"])
        study.run_round()
        study.write_exclusion_proofs(work / "proofs")
        proofs = ExclusionProofs.load(work / "proofs")
        recomputer = AggregateRecomputer(
            plan=plan, store=study.store, auditor_key=auditor.private_key
        )
        default = AuditVerifier(study.coordinator, study.store, proofs)
        keyed = AuditVerifier(
            study.coordinator, study.store, proofs, checks=(*DEFAULT_CHECKS, Recompute(recomputer))
        )
        plain_s, plain = _median(lambda: default.verify(study.study), args.repeat)
        keyed_s, report = _median(lambda: keyed.verify(study.study), args.repeat)
        assert plain.passed, plain.failures
        assert report.passed, report.failures
        usage = study.trainers[0].usages[2]
        dataset = study.trainers[0].dataset
        rows = dataset.select(dataset.patient_mask(set(usage.patients)))
        record = study.coordinator.rounds.get_round_record(study.study, 2)

        def replay() -> list[Any]:
            return replay_round(plan=plan, study=study.study, record=record,
                                hospital=study.hospital(0), rows=rows, store=study.store,
                                auditor_key=auditor.private_key)  # fmt: skip

        replay_s, findings = _median(replay, args.repeat)
        assert all(f.passed for f in findings), findings
        study.close()
    figures = {
        "hospitals": 3, "rows_per_hospital": 200, "rounds": 3, "repeat": args.repeat,
        "model": "mlp 10-32-16-1", "local_epochs": 2,
        "audit_default_seconds": round(plain_s, 3),
        "audit_with_recompute_seconds": round(keyed_s, 3),
        "recompute_checks": len([c for c in report.checks if c.check == "recompute"]),
        "replay_one_round_seconds": round(replay_s, 3),
        "replay_rows": len(rows),
    }  # fmt: skip
    targets = [
        {
            "name": "replay-audit of one hospital's round",
            "target": "< 5 s",
            "value": f"{replay_s:.2f} s",
            "met": replay_s < 5,
            "why": "an auditor replays rounds interactively; the local step itself is the cost",
        },
        {
            "name": "audit with recompute vs without",
            "target": "< 3x the default audit",
            "value": f"{keyed_s / plain_s:.2f}x",
            "met": keyed_s / plain_s < 3,
            "why": "recomputing reads each update once more and reruns the strategy; it must "
            "not make the key-holding audit impractical",
        },
    ]
    result = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    result["recompute_replay"] = {"what": WHAT, **figures}
    names = {t["name"] for t in targets}
    result["targets"] = [t for t in result.get("targets", []) if t["name"] not in names] + targets
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["recompute_replay"], indent=2))


if __name__ == "__main__":
    main()
