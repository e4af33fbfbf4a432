"""Federated vs central accuracy on breast cancer (3 hospitals, MLP).

Claims measured (issue 4):
- IID: the federated MLP after R rounds x E local epochs (FedAvg) is within 1 accuracy point of the
  same model trained centrally for R*E epochs with the same optimizer settings.
- Label-skewed (Dirichlet alpha): FedProx is within 3 points of central training.

Gap = central - federated accuracy in points; "within" means |gap| <= target.
The held-out test set has 114 rows, so one row is 0.88 points: single-seed gaps are quantised and
noisy. The claim is judged on the mean over several seeds (each seed changes the split, the
initial model and the shuffling); per-seed gaps are reported too.

Run: .venv/bin/python bench/bench_accuracy.py [--rounds 20 --local-epochs 2 --seeds 5]
Writes bench/results/accuracy.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from fl.models import ModelSpec
from fl.simulate import run_federated, train_central
from fl.split import Split, split_dataset
from fl.strategies import FedAvg
from fl.train import ClassificationMetrics, LocalTrainingConfig, Metrics

IID_TARGET_POINTS = 1.0
SKEWED_TARGET_POINTS = 3.0
RESULTS = Path(__file__).parent / "results" / "accuracy.json"


@dataclass(frozen=True)
class SeedResult:
    seed: int
    iid_federated: float
    iid_central: float
    skewed_fedavg: float
    skewed_fedprox: float
    skewed_central: float
    skewed_positive_fractions: tuple[float, ...]


def accuracy(metrics: Metrics) -> float:
    assert isinstance(metrics, ClassificationMetrics)
    return 100.0 * metrics.accuracy


def run_seed(args: argparse.Namespace, seed: int) -> SeedResult:
    spec = ModelSpec.mlp(30, "classification", hidden=tuple(args.hidden))
    config = LocalTrainingConfig(
        epochs=args.local_epochs, batch_size=args.batch_size, lr=args.lr, seed=seed
    )
    prox = replace(config, proximal_mu=args.mu)
    epochs = args.rounds * args.local_epochs
    iid = split_dataset("breast-cancer", args.hospitals, seed=seed)
    skewed = split_dataset(
        "breast-cancer", args.hospitals, non_iid=True, alpha=args.alpha, seed=seed
    )

    def federated(split: Split, local: LocalTrainingConfig) -> float:
        history = run_federated(
            split,
            spec,
            rounds=args.rounds,
            local_config=local,
            strategy=FedAvg(),
            init_seed=seed,
        )
        return accuracy(history.final)

    def central(split: Split) -> float:
        result = train_central(split, spec, epochs=epochs, config=config, init_seed=seed)
        return accuracy(result.final)

    return SeedResult(
        seed=seed,
        iid_federated=federated(iid, config),
        iid_central=central(iid),
        skewed_fedavg=federated(skewed, config),
        skewed_fedprox=federated(skewed, prox),
        skewed_central=central(skewed),
        skewed_positive_fractions=tuple(round(float(h.labels.mean()), 3) for h in skewed.hospitals),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--local-epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--mu", type=float, default=0.01, help="FedProx proximal_mu")
    parser.add_argument("--alpha", type=float, default=0.5, help="Dirichlet label-skew alpha")
    parser.add_argument("--hospitals", type=int, default=3)
    parser.add_argument("--hidden", type=int, nargs="+", default=[64, 32])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(1)

    started = time.perf_counter()
    results = [run_seed(args, seed) for seed in range(args.seeds)]
    elapsed = time.perf_counter() - started

    header = f"{'seed':>4} | {'IID fed':>8} {'central':>8} {'gap':>6} | "
    header += f"{'skew avg':>8} {'prox':>8} {'central':>8} {'gap':>6} | label mix"
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.seed:>4} | {r.iid_federated:8.2f} {r.iid_central:8.2f} "
            f"{r.iid_central - r.iid_federated:6.2f} | {r.skewed_fedavg:8.2f} "
            f"{r.skewed_fedprox:8.2f} {r.skewed_central:8.2f} "
            f"{r.skewed_central - r.skewed_fedprox:6.2f} | {r.skewed_positive_fractions}"
        )

    def mean(field: str) -> float:
        return statistics.fmean(getattr(r, field) for r in results)

    iid_gap = mean("iid_central") - mean("iid_federated")
    skewed_gap = mean("skewed_central") - mean("skewed_fedprox")
    summary = {
        "iid_federated_mean": round(mean("iid_federated"), 2),
        "iid_central_mean": round(mean("iid_central"), 2),
        "iid_gap_points": round(iid_gap, 2),
        "iid_max_abs_seed_gap_points": round(
            max(abs(r.iid_central - r.iid_federated) for r in results), 2
        ),
        "iid_target_met": abs(iid_gap) <= IID_TARGET_POINTS,
        "skewed_fedavg_mean": round(mean("skewed_fedavg"), 2),
        "skewed_fedprox_mean": round(mean("skewed_fedprox"), 2),
        "skewed_central_mean": round(mean("skewed_central"), 2),
        "skewed_gap_points": round(skewed_gap, 2),
        "skewed_max_abs_seed_gap_points": round(
            max(abs(r.skewed_central - r.skewed_fedprox) for r in results), 2
        ),
        "skewed_target_met": abs(skewed_gap) <= SKEWED_TARGET_POINTS,
        "seconds": round(elapsed, 1),
    }
    print("-" * len(header))
    print(
        f"mean | IID gap {iid_gap:.2f} pts (target <= {IID_TARGET_POINTS}) "
        f"{'MET' if summary['iid_target_met'] else 'NOT MET'}; "
        f"skewed FedProx gap {skewed_gap:.2f} pts (target <= {SKEWED_TARGET_POINTS}) "
        f"{'MET' if summary['skewed_target_met'] else 'NOT MET'}; {elapsed:.1f} s"
    )
    report = {
        "dataset": "breast-cancer",
        "test_rows": len(split_dataset("breast-cancer", args.hospitals, seed=0).test),
        "config": {
            "hospitals": args.hospitals,
            "rounds": args.rounds,
            "local_epochs": args.local_epochs,
            "central_epochs": args.rounds * args.local_epochs,
            "batch_size": args.batch_size,
            "optimizer": "sgd",
            "lr": args.lr,
            "fedprox_mu": args.mu,
            "dirichlet_alpha": args.alpha,
            "hidden": args.hidden,
            "seeds": args.seeds,
            "torch_threads": 1,
        },
        "summary": summary,
        "per_seed": [r.__dict__ for r in results],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
