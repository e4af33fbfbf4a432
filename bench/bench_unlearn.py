"""Unlearning on revocation (issue 16): time from a revocation to a clean model, SISA shards vs
full retraining, and forgetting measured by membership inference.

Claims measured:
- Time to a clean model after one revocation, for S in {1, 4, 8} shards per hospital
  (`fl.sisa`: S isolated federated sub-models combined as an ensemble; the revocation retrains
  only the shard holding the patient, from the initial model), against full retraining (S = 1:
  the rollback to the initial model that the aggregator's rollback round does when the patient
  was in round 0). Goal: >= 4x faster at S = 8, and the S = 8 ensemble's test accuracy within 1
  point of the unsharded model's.
- Forgetting: a loss-threshold membership-inference attack (score = the model's probability of
  the true label; AUC of revoked rows against never-seen test rows, scikit-learn) on the
  revoked rows, for the model before unlearning, the unlearned model and a model retrained from
  scratch without them (an independent run: another training seed). Goal: unlearned within
  +-0.03 of retrained, per S.

In process, over simulated hospitals: the training, aggregation and shard code are the modules
the roles use (`fl.train`, `fl.strategies`, `fl.sisa`), but no chain and no store, so the times
are training compute only (CPU seconds of this process, one torch thread; wall seconds beside).
The rollback path through the real roles (chain, store, rounds) is
exercised by `consentfl demo --unlearn` and the tests; its round count to a clean head is
`window_rounds`.

Timing data: sklearn's make_classification, 60,000 rows (a size where training dominates fixed
per-round costs), 3 hospitals, 5 rounds of 2 local epochs, for two models: logistic regression
(`linear`) and an MLP (32 hidden); both are reported. Forgetting data:
breast cancer (569 rows, where a model can overfit and an attack has something to find), 3
hospitals, an MLP (64, 32), 10 rounds of 5 local epochs, 10% of the training patients revoking
(a batch: at S = 4 and 8 it touches every shard).

- Why the MLP misses the accuracy target at S = 8, and the usual remedies (`remedies`): at the
  benchmark's configuration every sub-model takes 1/8 of the unsharded model's SGD steps (same
  rounds and epochs over 1/8 of the rows) and underfits; the ensemble (averaged probabilities,
  every shard warm-started from the one shared initial model) then adds almost nothing over one
  sub-model, since the shards are iid. Measured: a larger learning rate, more local epochs for
  the small shards, both, and step parity (8x the epochs), each against the unsharded model at
  the benchmark's learning rate and at a tuned one (the fair reference), with the one-shard
  retraining time beside it (a remedy that buys accuracy with steps gives back the speedup).

Run: .venv/bin/python bench/bench_unlearn.py [--rows 60000] [--only remedies]
Writes bench/results/unlearn.json (`--only remedies`: re-measures that section and its targets
and keeps the rest; `bench_unlearn_roles.py` adds the roles-level section).
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from sklearn.datasets import make_classification
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from fl.data import RecordDataset
from fl.models import ModelSpec
from fl.sisa import ShardedModel, affected_shards, shard_split, train_sharded
from fl.split import Split, split_dataset
from fl.strategies import make_strategy
from fl.train import LocalTrainingConfig

RESULTS = Path(__file__).parent / "results" / "unlearn.json"
SHARDS = (1, 4, 8)
HOSPITALS = 3
TARGET_SPEEDUP = 4.0
TARGET_POINTS = 1.0
TARGET_AUC_GAP = 0.03
FEDAVG = make_strategy("fedavg")


def synthetic_split(rows: int, seed: int) -> Split:
    """`rows` rows of make_classification, 20% held out, the rest dealt to 3 hospitals."""
    x, y = make_classification(
        n_samples=rows, n_features=20, n_informative=10, flip_y=0.02, random_state=seed
    )
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.2, random_state=seed, stratify=y
    )
    scaler = StandardScaler().fit(x_train)
    names = tuple(f"x{i}" for i in range(20))

    def part(xs: NDArray[np.float64], ys: NDArray[np.int64], prefix: str) -> RecordDataset:
        return RecordDataset(
            record_ids=tuple(f"{prefix}-{i}" for i in range(len(ys))),
            features=torch.tensor(scaler.transform(xs), dtype=torch.float32),
            labels=torch.tensor(ys, dtype=torch.float32),
            task="classification",
            feature_names=names,
        )

    chunks = np.array_split(np.arange(len(y_train)), HOSPITALS)
    hospitals = tuple(part(x_train[c], y_train[c], f"h{k}") for k, c in enumerate(chunks))
    base = split_dataset("breast-cancer", HOSPITALS, seed=seed)  # only its metadata fields
    return replace(base, hospitals=hospitals, test=part(x_test, y_test, "test"))


def _timed_training(
    parts: tuple[Split, ...],
    spec: ModelSpec,
    config: LocalTrainingConfig,
    rounds: int,
    only: tuple[int, ...] | None = None,
) -> tuple[dict[int, Any], float, float]:
    """The states, the CPU seconds of this process and the wall seconds of the training."""
    wall, cpu = time.perf_counter(), time.process_time()
    states = train_sharded(
        parts, spec, rounds=rounds, local_config=config, strategy=FEDAVG, only=only
    )
    return states, time.process_time() - cpu, time.perf_counter() - wall


MODELS = {
    "linear": ModelSpec.linear(20, "classification"),
    "mlp": ModelSpec.mlp(20, "classification", hidden=(32,)),
}


def timing(rows: int, seed: int, model: str, rounds: int = 5) -> dict[str, Any]:
    split = synthetic_split(rows, seed)
    spec = MODELS[model]
    config = LocalTrainingConfig(epochs=2, batch_size=64, lr=0.05, seed=seed)
    revoked = [split.hospitals[0].record_ids[7]]
    test = split.test
    out: dict[str, Any] = {
        "model": model, "rows": rows, "rounds": rounds, "local_epochs": config.epochs,
        "revoked_patients": 1, "per_shards": {},
    }  # fmt: skip
    for shards in SHARDS:
        parts = shard_split(split, shards)
        states, train_s, train_wall = _timed_training(parts, spec, config, rounds)
        ensemble = ShardedModel(spec, tuple(states[s] for s in range(shards)))
        affected = affected_shards(revoked, shards)
        cleaned = shard_split(split, shards, excluded=revoked)
        retrained, unlearn_s, unlearn_wall = _timed_training(
            cleaned, spec, config, rounds, only=affected
        )
        unlearned = ensemble.replaced(retrained)
        out["per_shards"][str(shards)] = {
            "train_cpu_s": round(train_s, 3),
            "train_wall_s": round(train_wall, 3),
            "unlearn_s": round(unlearn_s, 3),
            "unlearn_wall_s": round(unlearn_wall, 3),
            "affected_shards": len(affected),
            "accuracy_before": ensemble.accuracy(test.features, test.labels),
            "accuracy_unlearned": unlearned.accuracy(test.features, test.labels),
        }
    full = out["per_shards"]["1"]["unlearn_s"]  # S = 1: retraining everything
    for entry in out["per_shards"].values():
        entry["speedup_vs_full"] = round(full / entry["unlearn_s"], 2)
    return out


def _auc(model: ShardedModel, members: RecordDataset, outsiders: RecordDataset) -> float:
    def confidence(part: RecordDataset) -> NDArray[np.float64]:
        p = model.probabilities(part.features).numpy()
        y = part.labels.numpy()
        return np.where(y == 1, p, 1 - p)

    scores = np.concatenate([confidence(members), confidence(outsiders)])
    truth = np.concatenate([np.ones(len(members)), np.zeros(len(outsiders))])
    return float(roc_auc_score(truth, scores))


def forgetting(seed: int, rounds: int = 10, share: float = 0.10) -> dict[str, Any]:
    split = split_dataset("breast-cancer", HOSPITALS, seed=seed)
    spec = ModelSpec.mlp(30, "classification", hidden=(64, 32))
    config = LocalTrainingConfig(epochs=5, batch_size=16, lr=0.05, seed=seed)
    everyone = [r for h in split.hospitals for r in h.record_ids]
    revoked = random.Random(seed).sample(everyone, max(1, int(share * len(everyone))))
    union = split.train_union()
    members = union.select(np.array([r in set(revoked) for r in union.record_ids]))
    out: dict[str, Any] = {
        "revoked_rows": len(revoked),
        "test_rows": len(split.test),
        "per_shards": {},
    }
    for shards in SHARDS:
        parts = shard_split(split, shards)
        before = ShardedModel(
            spec,
            tuple(
                train_sharded(
                    parts, spec, rounds=rounds, local_config=config, strategy=FEDAVG
                ).values()
            ),
        )
        affected = affected_shards(revoked, shards)
        cleaned = shard_split(split, shards, excluded=revoked)
        unlearned = before.replaced(
            train_sharded(
                cleaned, spec, rounds=rounds, local_config=config, strategy=FEDAVG, only=affected
            )
        )
        other = replace(config, seed=seed + 101)  # an independent retraining run
        scratch = ShardedModel(
            spec,
            tuple(
                train_sharded(
                    cleaned, spec, rounds=rounds, local_config=other, strategy=FEDAVG, init_seed=1
                ).values()
            ),
        )
        out["per_shards"][str(shards)] = {
            "affected_shards": len(affected),
            "auc_before": round(_auc(before, members, split.test), 4),
            "auc_unlearned": round(_auc(unlearned, members, split.test), 4),
            "auc_retrained": round(_auc(scratch, members, split.test), 4),
            "accuracy_unlearned": unlearned.accuracy(split.test.features, split.test.labels),
        }
    return out


REMEDIES = (  # (name, shards, local epochs, learning rate)
    ("unsharded, benchmark lr", 1, 2, 0.05),
    ("unsharded, tuned lr", 1, 2, 0.2),
    ("S = 8, as benchmarked", 8, 2, 0.05),
    ("S = 8, lr x8", 8, 2, 0.4),
    ("S = 8, 2x epochs + lr x8", 8, 4, 0.4),
    ("S = 8, 8x epochs (step parity)", 8, 16, 0.05),
)


def remedies(rows: int, seed: int, rounds: int = 5) -> dict[str, Any]:
    """The MLP's S = 8 accuracy gap and its remedies (see the module docstring)."""
    split = synthetic_split(rows, seed)
    spec = MODELS["mlp"]
    revoked = [split.hospitals[0].record_ids[7]]
    out: dict[str, Any] = {"model": "mlp", "rows": rows, "rounds": rounds, "configs": {}}
    for name, shards, epochs, lr in REMEDIES:
        config = LocalTrainingConfig(epochs=epochs, batch_size=64, lr=lr, seed=seed)
        states, train_s, _ = _timed_training(shard_split(split, shards), spec, config, rounds)
        ensemble = ShardedModel(spec, tuple(states[s] for s in range(shards)))
        affected = affected_shards(revoked, shards)
        cleaned = shard_split(split, shards, excluded=revoked)
        retrained, unlearn_s, _ = _timed_training(cleaned, spec, config, rounds, only=affected)
        unlearned = ensemble.replaced(retrained)
        one = ShardedModel(spec, (unlearned.states[0],))
        out["configs"][name] = {
            "shards": shards, "local_epochs": epochs, "lr": lr,
            "train_cpu_s": round(train_s, 3), "unlearn_s": round(unlearn_s, 3),
            "accuracy_unlearned": unlearned.accuracy(split.test.features, split.test.labels),
            "one_sub_model_accuracy": one.accuracy(split.test.features, split.test.labels),
        }  # fmt: skip
    return out


def _remedy_targets(found: dict[str, Any]) -> list[dict[str, Any]]:
    configs = found["configs"]
    reference = configs["unsharded, tuned lr"]
    targets = []
    for name, entry in configs.items():
        if entry["shards"] == 1:
            continue
        points = 100 * (entry["accuracy_unlearned"] - reference["accuracy_unlearned"])
        speedup = reference["unlearn_s"] / entry["unlearn_s"]
        targets += [
            {"name": f"remedy {name} (mlp): accuracy vs unsharded at a tuned lr",
             "target": f"within {TARGET_POINTS} point", "value": f"{points:+.2f} points",
             "met": abs(points) <= TARGET_POINTS,
             "why": "1/8 of the rows per sub-model; the iid shards' ensemble is about one "
                    f"sub-model ({entry['one_sub_model_accuracy']:.4f})"},
            {"name": f"remedy {name} (mlp): time to a clean model vs unsharded at a tuned lr",
             "target": f">= {TARGET_SPEEDUP}x", "value": f"{speedup:.2f}x",
             "met": speedup >= TARGET_SPEEDUP,
             "why": f"one shard of 8 retrained with {entry['local_epochs']} local epochs"},
        ]  # fmt: skip
    return targets


def _targets(times: list[dict[str, Any]], forget: dict[str, Any]) -> list[dict[str, Any]]:
    targets = []
    for part in times:
        s8, s1, model = part["per_shards"]["8"], part["per_shards"]["1"], part["model"]
        points = 100 * (s8["accuracy_unlearned"] - s1["accuracy_unlearned"])
        targets += [
            {"name": f"time to a clean model, S = 8 vs full retraining ({model})",
             "target": f">= {TARGET_SPEEDUP}x", "value": f"{s8['speedup_vs_full']}x",
             "met": s8["speedup_vs_full"] >= TARGET_SPEEDUP,
             "why": "one shard of 8 retrained from the initial model; training compute only"},
            {"name": f"accuracy, S = 8 ensemble vs unsharded ({model})",
             "target": f"within {TARGET_POINTS} point", "value": f"{points:+.2f} points",
             "met": abs(points) <= TARGET_POINTS,
             "why": "each sub-model trains on 1/8 of the rows with the same rounds and epochs"},
        ]  # fmt: skip
    for shards, entry in forget["per_shards"].items():
        gap = entry["auc_unlearned"] - entry["auc_retrained"]
        before = entry["auc_before"]
        targets.append(
            {"name": f"MIA AUC on revoked rows, S = {shards}: unlearned - retrained",
             "target": f"within +-{TARGET_AUC_GAP}", "value": f"{gap:+.4f} (before: {before})",
             "met": abs(gap) <= TARGET_AUC_GAP,
             "why": "exact unlearning: the affected shards are retrained without the rows"}
        )  # fmt: skip
    return targets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", choices=["remedies"], default=None)
    args = parser.parse_args()
    # a shared 2-core machine (other engineers' jobs): one torch thread, and the speedups are
    # taken over this process's CPU seconds (`unlearn_s`), which their load does not inflate;
    # wall seconds are recorded beside them
    torch.set_num_threads(1)
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    if args.only == "remedies":
        times, forget = previous["timing"], previous["forgetting"]
    else:
        times = [timing(args.rows, args.seed, model) for model in MODELS]
        forget = forgetting(args.seed)
    found = remedies(args.rows, args.seed)
    result = {
        "machine": {
            "python": platform.python_version(),
            "cpu": platform.processor(),
            "torch_threads": 1,
        },
        "timing": times,
        "forgetting": forget,
        "remedies": found,
        "targets": _targets(times, forget) + _remedy_targets(found),
    }
    latest = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}  # re-read: a roles
    if "roles" in latest:  # run may have finished meanwhile; its section and target stay
        result["roles"] = latest["roles"]
        result["targets"] += [t for t in latest["targets"] if t["name"].startswith("roles:")]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["targets"], indent=2))


if __name__ == "__main__":
    main()
