"""The end audit alone, per round, on one embedded study per chain (no Flower needed).

Builds one study like `bench/bench_flower.py`'s (breast cancer, MLP, 3 hospitals, 20 rounds by
default) on eth-tester or a fresh anvil, then times `AuditVerifier(...).verify()` over it
`--repeats` times and prints one JSON line (median audit, per round, checks, load). To compare
old and new code in the same run, alternate processes by `PYTHONPATH`:

    PYTHONPATH=/tmp/before .venv/bin/python bench/audit_alone.py --chain eth-tester
    .venv/bin/python bench/audit_alone.py --chain eth-tester

`--profile FILE` writes a cProfile of one more audit to FILE (read it with `pstats`).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from api.embedded import EmbeddedStudy
from chain.audit import AuditVerifier
from chain.devnet import start_anvil, stop_service
from chain.exclusions import ExclusionProofs
from fl.models import ModelSpec
from fl.roles import StudyPlan
from fl.split import split_dataset
from fl.train import LocalTrainingConfig


def _audited(args: argparse.Namespace, workdir: Path, rpc: str) -> dict[str, Any]:
    torch.set_num_threads(1)
    split = split_dataset("breast-cancer", args.hospitals, seed=0)
    spec = ModelSpec.mlp(30, "classification", hidden=(64, 32))
    training = LocalTrainingConfig(epochs=1, batch_size=32, lr=0.05, seed=0)
    plan = StudyPlan(model=spec, training=training, init_seed=0, round_timeout_s=0.0)
    study = EmbeddedStudy.create(
        workdir, hospitals=args.hospitals, plan=plan, rounds=args.rounds,
        test_set=split.test, min_updates=args.hospitals, name="bench-audit", rpc=rpc,
    )  # fmt: skip
    try:
        for k, records in enumerate(split.hospitals):
            study.enroll(k, records)
        for _ in range(args.rounds):
            study.run_round()
        proofs = workdir / "proofs"
        study.write_exclusion_proofs(proofs)
        times: list[float] = []
        checks, passed = 0, False
        for _ in range(args.repeats):
            start = time.perf_counter()
            audit = AuditVerifier(
                study.coordinator, study.store, ExclusionProofs.load(proofs)
            ).verify(study.study)
            times.append(time.perf_counter() - start)
            checks, passed = len(audit.checks), audit.passed
        if args.profile is not None:
            profiler = cProfile.Profile()
            profiler.enable()
            AuditVerifier(study.coordinator, study.store, ExclusionProofs.load(proofs)).verify(
                study.study
            )
            profiler.disable()
            profiler.dump_stats(str(args.profile))
    finally:
        study.close()
    median = statistics.median(times)
    return {
        "audit_s": [round(t, 4) for t in times],
        "audit_s_median": round(median, 4),
        "audit_s_per_round": round(median / args.rounds, 4),
        "audit_checks": checks,
        "audit_passed": passed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chain", choices=("eth-tester", "anvil"), default="eth-tester")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--hospitals", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--label", default=os.environ.get("PYTHONPATH", "this tree"))
    parser.add_argument("--profile", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as tmp:
        anvil = start_anvil(Path(tmp) / "anvil") if args.chain == "anvil" else None
        try:
            rpc = "eth-tester" if anvil is None else anvil.url
            result = _audited(args, Path(tmp) / "study", rpc)
        finally:
            if anvil is not None:
                stop_service(anvil)
    load = os.getloadavg()[0]
    print(json.dumps({"code": args.label, "chain": args.chain, **result, "load_1min": load}))


if __name__ == "__main__":
    main()
