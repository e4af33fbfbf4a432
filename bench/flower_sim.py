"""The Flower side of bench_flower.py: the same study in Flower's Simulation Engine.

Runs in the bench venv (.venv-bench: flwr[simulation] pins older fastapi/typer/rich than the
project, so it is kept out of the main venv); bench_flower.py starts it as a subprocess and reads
the JSON it writes. Same split (`fl.split.split_dataset`, same seed), model (`fl.models` from the
same `ModelSpec`), initial weights (`initial_state(spec, seed)`), local training
(`fl.train.train_local` with the same `LocalTrainingConfig` and the same per-(round, hospital)
shuffling seed as the consentfl trainer), FedAvg weighted by samples, centralized evaluation on
the same held-out test set after every round. Flower's current Message API: `ServerApp` +
`ClientApp` + `flwr.serverapp.strategy.FedAvg.start`, through `flwr.simulation.run_simulation`
on the Ray backend limited to 2 CPUs (1 per ClientApp), no dashboard.

Timing: `start` before `run_simulation`, end after it returns; the centralized evaluation is
called once before round 1 (its time stamp ends start-up) and after every round (consecutive
stamps give per-round times).

Run: .venv-bench/bin/python bench/flower_sim.py --out FILE.json [--rounds 20 ...]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from dataclasses import replace
from itertools import pairwise
from pathlib import Path
from typing import Any

import flwr
import torch
from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg
from flwr.simulation import run_simulation

from fl.aggregate import apply_delta
from fl.models import ModelSpec, initial_state
from fl.simulate import client_seed
from fl.split import Split, split_dataset
from fl.train import ClassificationMetrics, LocalTrainingConfig, evaluate, train_local


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--hospitals", type=int, default=3)
    parser.add_argument("--local-epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--hidden", type=int, nargs="+", default=[64, 32])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cpus", type=int, default=2)
    return parser.parse_args()


ARGS = _parse()
SPEC = ModelSpec.mlp(30, "classification", hidden=tuple(ARGS.hidden))
CONFIG = LocalTrainingConfig(
    epochs=ARGS.local_epochs, batch_size=ARGS.batch_size, lr=ARGS.lr, seed=ARGS.seed
)


_SPLITS: dict[int, Split] = {}


def _split() -> Split:
    """Loaded once per process (every Ray actor builds the same split from the same seed)."""
    if ARGS.seed not in _SPLITS:
        _SPLITS[ARGS.seed] = split_dataset("breast-cancer", ARGS.hospitals, seed=ARGS.seed)
    return _SPLITS[ARGS.seed]


client = ClientApp()


@client.train()
def train(msg: Message, context: Context) -> Message:
    """One hospital's local training, identical to the consentfl trainer's."""
    torch.set_num_threads(1)
    partition = int(context.node_config["partition-id"])
    round_index = int(msg.content["config"]["server-round"]) - 1  # consentfl rounds count from 0
    base = msg.content["arrays"].to_torch_state_dict()
    config = replace(CONFIG, seed=client_seed(CONFIG.seed, round_index, partition))
    result = train_local(SPEC, base, _split().hospitals[partition], config)
    trained = apply_delta(base, result.delta)
    content = RecordDict(
        {
            "arrays": ArrayRecord(trained),
            "metrics": MetricRecord(
                {"train_loss": result.train_loss, "num-examples": result.num_samples}
            ),
        }
    )
    return Message(content=content, reply_to=msg)


server = ServerApp()
STAMPS: list[float] = []
ACCURACY: list[float] = []


@server.main()
def main(grid: Grid, context: Context) -> None:
    """FedAvg over every hospital for ARGS.rounds rounds, evaluated centrally each round."""
    strategy = FedAvg(
        fraction_train=1.0,
        fraction_evaluate=0.0,
        min_train_nodes=ARGS.hospitals,
        min_available_nodes=ARGS.hospitals,
    )

    def central(server_round: int, arrays: ArrayRecord) -> MetricRecord:
        metrics = evaluate(SPEC, arrays.to_torch_state_dict(), _split().test)
        assert isinstance(metrics, ClassificationMetrics)
        STAMPS.append(time.perf_counter())
        ACCURACY.append(metrics.accuracy)
        return MetricRecord({"accuracy": metrics.accuracy, "loss": metrics.loss})

    initial = ArrayRecord(initial_state(SPEC, seed=ARGS.seed))
    strategy.start(grid=grid, initial_arrays=initial, num_rounds=ARGS.rounds, evaluate_fn=central)


def run() -> dict[str, Any]:
    torch.set_num_threads(1)
    backend: dict[str, Any] = {
        "init_args": {
            "num_cpus": ARGS.cpus,
            "include_dashboard": False,
            "log_to_driver": False,
            "logging_level": logging.ERROR,
        },
        "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
    }
    started = time.perf_counter()
    run_simulation(
        server_app=server,
        client_app=client,
        num_supernodes=ARGS.hospitals,
        backend_config=backend,  # type: ignore[arg-type]
    )
    total = time.perf_counter() - started
    if len(STAMPS) != ARGS.rounds + 1:
        raise SystemExit(f"expected {ARGS.rounds + 1} evaluations, got {len(STAMPS)}")
    per_round = [b - a for a, b in pairwise(STAMPS)]
    return {
        "flwr": flwr.__version__,
        "ray_cpus": ARGS.cpus,
        "total_s": round(total, 3),
        "startup_s": round(STAMPS[0] - started, 3),
        "rounds_s": round(STAMPS[-1] - STAMPS[0], 3),
        "shutdown_s": round(started + total - STAMPS[-1], 3),
        "per_round_s": [round(s, 4) for s in per_round],
        "accuracy_per_round": [round(a, 4) for a in ACCURACY],
        "final_accuracy": ACCURACY[-1],
        "pid": os.getpid(),
    }


if __name__ == "__main__":
    report = run()
    ARGS.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
