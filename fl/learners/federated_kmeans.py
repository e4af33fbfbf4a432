"""Federated k-means through the learner seam: a seeding round, then one Lloyd step per round.

The state is `centroids` (k, d), `seeded` (1,) (0 until the seeding round is finalized) and `seed`
(1,) (the plan's `init_seed`, so the seeding is reproducible by anyone who reads the chain).

* Round 0 (base not seeded): each hospital ships a seeding summary of its rows
  (`fl.learners.kmeans.seed_summary`: up to 2k local centroids, means of rows, with their row
  counts; padded to 2k with zero weights). The server runs weighted k-means++ over all summaries
  with the study's seed (`agree_seeds`), and round 0's model, on chain by hash, is the agreed
  seeding: every party starts round 1 from the same centroids.
* Every later round: each hospital ships, per cluster, the sum of its rows nearest that centroid,
  their count and its inertia (`ClusterSums`); the server adds them (sums, not averages) and moves
  each centroid to its cluster's mean: exactly one Lloyd iteration over the pooled rows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor

from consent.combines import COMBINE_EXTENSION, CombineTotals
from fl.data import Examples, HospitalDataset
from fl.errors import AggregationError, LearnerPlanError, NoTrainingDataError
from fl.learner import Learner
from fl.learners import kmeans
from fl.learners.closed_form import sample_shares
from fl.metrics import clustering_metrics
from fl.models import ModelSpec
from fl.strategy import Aggregation, ClientUpdate, RejectedUpdate, Strategy, screen_updates
from fl.train import LocalResult, LocalTrainingConfig, Metrics

__all__ = ["FederatedKMeans", "is_seeded"]


def is_seeded(state: Mapping[str, Tensor]) -> bool:
    """Whether `state` holds agreed centroids (the seeding round is behind it)."""
    return bool(state["seeded"][0] > 0)


def _f64(array: npt.NDArray[Any]) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float64))


class FederatedKMeans(Learner):
    """k-means over all hospitals' rows without moving them (k = the model's `n_outputs`)."""

    name: ClassVar[str] = "kmeans"

    def check_plan(self, spec: ModelSpec, strategy: str) -> None:
        if spec.kind != "kmeans":
            raise LearnerPlanError(f"kmeans needs a kmeans model spec, not {spec.kind}")
        if strategy != "fedavg":
            raise LearnerPlanError(f"kmeans sums statistics; strategy {strategy!r} is unused")

    def initial_state(self, spec: ModelSpec, *, seed: int) -> dict[str, Tensor]:
        return {
            "centroids": torch.zeros((spec.n_outputs, spec.n_features), dtype=torch.float64),
            "seeded": torch.zeros((1,), dtype=torch.float64),
            "seed": torch.tensor([float(seed)], dtype=torch.float64),
        }

    def local_step(
        self,
        spec: ModelSpec,
        base: Mapping[str, Tensor],
        dataset: HospitalDataset,
        config: LocalTrainingConfig,
    ) -> LocalResult:
        if len(dataset) == 0:
            raise NoTrainingDataError("no rows to cluster")
        x = dataset.features.double().numpy()
        k = spec.n_outputs
        if not is_seeded(base):
            summary = kmeans.seed_summary(x, k, seed=config.seed)
            centers = np.zeros((2 * k, x.shape[1]))
            weights = np.zeros(2 * k)
            centers[: len(summary.centers)] = summary.centers
            weights[: len(summary.weights)] = summary.weights
            delta = {"centers": _f64(centers), "weights": _f64(weights)}
            return LocalResult(delta=delta, num_samples=len(dataset), train_loss=math.nan)
        sums = kmeans.ClusterSums.of(x, base["centroids"].double().numpy())
        delta = {
            "sums": _f64(sums.sums),
            "counts": _f64(sums.counts),
            "inertia": _f64(np.array([sums.inertia])),
        }
        return LocalResult(delta=delta, num_samples=len(dataset), train_loss=sums.inertia / len(x))

    def update_template(self, base: Mapping[str, Tensor]) -> Mapping[str, Tensor]:
        k, d = base["centroids"].shape
        if not is_seeded(base):
            return {
                "centers": torch.zeros((2 * k, d), dtype=torch.float64),
                "weights": torch.zeros((2 * k,), dtype=torch.float64),
            }
        return {
            "sums": torch.zeros((k, d), dtype=torch.float64),
            "counts": torch.zeros((k,), dtype=torch.float64),
            "inertia": torch.zeros((1,), dtype=torch.float64),
        }

    def screen(
        self, base: Mapping[str, Tensor], updates: Sequence[ClientUpdate]
    ) -> tuple[list[ClientUpdate], list[RejectedUpdate]]:
        """Shape and finiteness as any update, and counts that are counts: whole numbers >= 0,
        at least one row, and a non-negative inertia."""
        accepted, rejected = screen_updates(base, updates)
        kept: list[ClientUpdate] = []
        for update in accepted:
            counts = update.delta["weights" if "weights" in update.delta else "counts"]
            inertia = update.delta.get("inertia")
            if bool((counts < 0).any()) or not bool((counts == counts.round()).all()):
                problem = "the row counts are not whole numbers >= 0"
            elif float(counts.sum()) < 1:
                problem = "the update counts no rows"
            elif inertia is not None and float(inertia[0]) < 0:
                problem = "the inertia is negative"
            else:
                kept.append(update)
                continue
            rejected.append(RejectedUpdate(update, AggregationError(problem)))
        return kept, rejected

    def combine(
        self, base: Mapping[str, Tensor], updates: Sequence[ClientUpdate], strategy: Strategy
    ) -> Aggregation:
        del strategy  # the sums add up; nothing is averaged
        centroids = base["centroids"].double().numpy()
        if not is_seeded(base):
            summaries = []
            for u in updates:
                weights = u.delta["weights"].double().numpy()
                keep = weights > 0
                summaries.append(
                    kmeans.SeedSummary(u.delta["centers"].double().numpy()[keep], weights[keep])
                )
            moved = kmeans.agree_seeds(summaries, len(centroids), seed=int(base["seed"][0]))
            totals = CombineTotals(
                self.name,
                "seeding",
                {
                    "centers": np.vstack([p.centers for p in summaries]),
                    "weights": np.concatenate([p.weights for p in summaries]),
                },
            )
        else:
            total = kmeans.combine(
                [
                    kmeans.ClusterSums(
                        u.delta["sums"].double().numpy(),
                        u.delta["counts"].double().numpy(),
                        float(u.delta["inertia"][0]),
                    )
                    for u in updates
                ]
            )
            moved = kmeans.step(centroids, total)
            totals = CombineTotals(self.name, "lloyd", {"sums": total.sums, "counts": total.counts})
        state = {
            "centroids": _f64(moved),
            "seeded": torch.ones((1,), dtype=torch.float64),
            "seed": base["seed"].clone(),
        }
        return Aggregation(
            state, sample_shares(updates), {COMBINE_EXTENSION: totals.to_json_dict()}
        )

    def evaluate(self, spec: ModelSpec, state: Mapping[str, Tensor], dataset: Examples) -> Metrics:
        """Inertia on `dataset` and, when its labels are a labelling (two or more values), the
        adjusted Rand index against them."""
        del spec
        if len(dataset) == 0:
            raise NoTrainingDataError("no rows to evaluate on")
        labels = dataset.labels.numpy()
        reference = labels if len(np.unique(labels)) > 1 else None
        return clustering_metrics(
            dataset.features.double().numpy(), state["centroids"].double().numpy(), reference
        )
