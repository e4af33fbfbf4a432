"""Accuracy of record-level DP-SGD (privacy mode "dp") against non-private FedAvg, and its cost.

For breast cancer (binary) and digits (10 classes), 3 IID hospitals, `--rounds` rounds, 5 seeds:
non-private FedAvg (epsilon = infinity: plain SGD, the demo's settings) and DP-SGD at
epsilon in {1, 3, 8} with delta = 1e-5, where each round is `--epochs` passes of Poisson batches
(q = 0.1) with per-sample clipping at C = 1 and the smallest noise multiplier under which all the
rounds fit the budget in the contract's arithmetic (`fl.privacy.calibrate_noise`, Mironov's
conversion over the 15 default orders). Each hospital trains through the same learner the
trainer role uses (`fl.privacy.RecordDpLearner`); FedAvg combines. Also times one round of
local DP-SGD against one of plain SGD.

    .venv/bin/python bench/bench_dp.py [--seeds 5] [--rounds 5]

Writes bench/results/dp.json.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from consent.privacy import DpTerms
from fl.learner import Learner
from fl.learners import SgdDelta
from fl.models import ModelSpec, initial_state
from fl.privacy import RecordDpLearner, calibrate_noise
from fl.simulate import client_seed
from fl.split import split_dataset
from fl.strategies import make_strategy
from fl.strategy import ClientUpdate
from fl.train import LocalTrainingConfig, evaluate

RESULTS = Path(__file__).parent / "results" / "dp.json"
EPSILONS = (1.0, 3.0, 8.0)
DELTA = 1e-5
SAMPLE_RATE = 0.1
DATASETS = {"breast-cancer": ("classification", 1), "digits": ("multiclass", 10)}


def _spec(name: str, n_features: int) -> ModelSpec:
    task, outputs = DATASETS[name]
    return ModelSpec.mlp(n_features, task, (64,), n_outputs=outputs)  # type: ignore[arg-type]


def _run(
    name: str, seed: int, rounds: int, learner: Learner, config: LocalTrainingConfig
) -> tuple[float, float]:
    """(test accuracy after `rounds` rounds, mean seconds of one hospital's local step)."""
    split = split_dataset(name, 3, seed=seed)  # type: ignore[arg-type]
    spec = _spec(name, split.test.features.shape[1])
    state = initial_state(spec, seed=seed)
    strategy = make_strategy("fedavg")
    seconds: list[float] = []
    for r in range(rounds):
        updates = []
        for k, hospital in enumerate(split.hospitals):
            local = replace(config, seed=client_seed(seed, r, k))
            started = time.perf_counter()
            result = learner.local_step(spec, state, hospital, local)  # type: ignore[arg-type]
            seconds.append(time.perf_counter() - started)
            updates.append(ClientUpdate(f"h{k}", result.delta, result.num_samples))
        state = learner.combine(state, updates, strategy).state
    accuracy = float(evaluate(spec, state, split.test).accuracy)  # type: ignore[union-attr]
    return accuracy, statistics.mean(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=3, help="DP-SGD passes per round")
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.perf_counter()
    plain_config = LocalTrainingConfig(epochs=5, batch_size=32, lr=0.05)
    dp_config = LocalTrainingConfig(epochs=1, batch_size=32, lr=0.5)
    summary: dict[str, Any] = {}
    per_seed: list[dict[str, Any]] = []
    timing: dict[str, dict[str, float]] = {}
    for name in DATASETS:
        plain = [_run(name, s, args.rounds, SgdDelta(), plain_config) for s in range(args.seeds)]
        row: dict[str, Any] = {"inf": statistics.mean(a for a, _ in plain)}
        timing[name] = {"plain_local_step_s": statistics.mean(t for _, t in plain)}
        for epsilon in EPSILONS:
            terms = calibrate_noise(
                DpTerms(
                    epsilon=epsilon, delta=DELTA, noise_multiplier=1.0, max_grad_norm=1.0,
                    sample_rate=SAMPLE_RATE,
                    steps_per_round=args.epochs * round(1 / SAMPLE_RATE),
                ),
                args.rounds,
            )  # fmt: skip
            runs = [
                _run(name, s, args.rounds, RecordDpLearner(SgdDelta(), terms), dp_config)
                for s in range(args.seeds)
            ]
            row[str(epsilon)] = statistics.mean(a for a, _ in runs)
            row[f"sigma@{epsilon}"] = terms.noise_multiplier
            if epsilon == 3.0:
                timing[name]["dp_local_step_s"] = statistics.mean(t for _, t in runs)
            per_seed += [
                {"dataset": name, "epsilon": epsilon, "seed": s, "accuracy": a}
                for s, (a, _) in enumerate(runs)
            ]
        per_seed += [
            {"dataset": name, "epsilon": "inf", "seed": s, "accuracy": a}
            for s, (a, _) in enumerate(plain)
        ]
        summary[name] = row
        print(name, json.dumps(row), json.dumps(timing[name]), flush=True)
    targets = []
    for name, row in summary.items():
        for epsilon, goal in ((8.0, 2.0), (3.0, 5.0), (1.0, math.inf)):
            gap = 100 * (row["inf"] - row[str(epsilon)])
            met = gap <= goal
            targets.append(
                {
                    "name": f"{name} accuracy gap at epsilon {epsilon:g} (points)",
                    "target": "as measured" if math.isinf(goal) else f"<= {goal:g}",
                    "value": round(gap, 3),
                    "met": met,
                    "why": "met"
                    if met
                    else "missed: noise needed for the budget over "
                    f"{args.rounds} rounds costs more than {goal:g} points here",
                }
            )
        ratio = timing[name]["dp_local_step_s"] / timing[name]["plain_local_step_s"]
        targets.append(
            {
                "name": f"{name} DP-SGD local step time vs plain (ratio)",
                "target": "as measured",
                "value": round(ratio, 3),
                "met": True,
                "why": "met",
            }
        )
    body = {
        "config": {
            "hospitals": 3,
            "rounds": args.rounds,
            "seeds": args.seeds,
            "delta": DELTA,
            "sample_rate": SAMPLE_RATE,
            "dp_steps_per_round": args.epochs * round(1 / SAMPLE_RATE),
            "max_grad_norm": 1.0,
            "dp_lr": dp_config.lr,
            "plain": plain_config.to_json_dict(),
            "model": "MLP, one hidden layer of 64",
            "split": "IID",
        },
        "summary": summary,
        "timing": timing,
        "per_seed": per_seed,
        "targets": targets,
        "seconds": round(time.perf_counter() - started, 1),
    }
    RESULTS.write_text(json.dumps(body, indent=2) + "\n")
    print(json.dumps(targets, indent=1))


if __name__ == "__main__":
    main()
