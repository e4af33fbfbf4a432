"""Federated k-means through the learner seam: a seeding round, then one Lloyd step per round.

The state is `centroids` (k, d) (the study's clustering), `candidates` (n, k, d) (`N_SEEDINGS`
seedings run side by side), `seeded` (1,) (0 until the seeding round is finalized) and `seed`
(1,) (the plan's `init_seed`, so the seeding is reproducible by anyone who reads the chain).

* Round 0 (base not seeded): each hospital ships a seeding summary of its rows
  (`fl.learners.kmeans.seed_summary`: up to 2k local centroids, means of rows, with their row
  counts; padded to 2k with zero weights). The server runs weighted k-means++ over all summaries
  `N_SEEDINGS` times, with seeds `seed`, `seed + 1`, ... (`agree_candidates`), and round 0's
  model, on chain by hash, holds the agreed candidates: every party starts round 1 from them.
* Every later round: each hospital ships, per candidate and per cluster, the sum of its rows
  nearest that centroid and their count, and per candidate its inertia (`ClusterSums`); the
  server adds them (sums, not averages) and moves each centroid of each candidate to its
  cluster's mean: exactly one Lloyd iteration of every candidate over the pooled rows. The
  study's `centroids` are the moved centroids of the candidate with the lowest federated inertia
  (`consent.combines.lloyd_candidates`), as scikit-learn's `n_init` keeps its best run: one
  seeding alone can land in a worse local optimum (it did on iris: ARI 0.592 against 0.620).
  Everything stays deterministic and replayable: the seeds come from the plan, the choice from
  the summed inertias published in the round metrics.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Final

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor

from consent.combines import COMBINE_EXTENSION, CombineTotals, lloyd_candidates
from fl.data import Examples, HospitalDataset
from fl.errors import AggregationError, LearnerPlanError, NoTrainingDataError
from fl.learner import Learner
from fl.learners import kmeans
from fl.learners.closed_form import sample_shares
from fl.metrics import clustering_metrics
from fl.models import ModelSpec
from fl.strategy import Aggregation, ClientUpdate, RejectedUpdate, Strategy, screen_updates
from fl.train import LocalResult, LocalTrainingConfig, Metrics

__all__ = ["N_SEEDINGS", "FederatedKMeans", "is_seeded"]

N_SEEDINGS: Final = 10
"""Seedings run side by side (scikit-learn's classic `n_init`); the hospitals' inertias choose."""


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
        shape = (spec.n_outputs, spec.n_features)
        return {
            "centroids": torch.zeros(shape, dtype=torch.float64),
            "candidates": torch.zeros((N_SEEDINGS, *shape), dtype=torch.float64),
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
        parts = [kmeans.ClusterSums.of(x, c) for c in base["candidates"].double().numpy()]
        delta = {
            "sums": _f64(np.stack([p.sums for p in parts])),
            "counts": _f64(np.stack([p.counts for p in parts])),
            "inertia": _f64(np.array([p.inertia for p in parts])),
        }
        best = min(p.inertia for p in parts)
        return LocalResult(delta=delta, num_samples=len(dataset), train_loss=best / len(x))

    def update_template(self, base: Mapping[str, Tensor]) -> Mapping[str, Tensor]:
        n, k, d = base["candidates"].shape
        if not is_seeded(base):
            return {
                "centers": torch.zeros((2 * k, d), dtype=torch.float64),
                "weights": torch.zeros((2 * k,), dtype=torch.float64),
            }
        return {
            "sums": torch.zeros((n, k, d), dtype=torch.float64),
            "counts": torch.zeros((n, k), dtype=torch.float64),
            "inertia": torch.zeros((n,), dtype=torch.float64),
        }

    def screen(
        self, base: Mapping[str, Tensor], updates: Sequence[ClientUpdate]
    ) -> tuple[list[ClientUpdate], list[RejectedUpdate]]:
        """Shape and finiteness as any update, and counts that are counts: whole numbers >= 0,
        the same number of rows for every candidate (at least one), and inertias >= 0."""
        accepted, rejected = screen_updates(base, updates)
        kept: list[ClientUpdate] = []
        for update in accepted:
            counts = update.delta["weights" if "weights" in update.delta else "counts"]
            inertia = update.delta.get("inertia")
            if bool((counts < 0).any()) or not bool((counts == counts.round()).all()):
                problem = "the row counts are not whole numbers >= 0"
            elif float(counts.sum()) < 1:
                problem = "the update counts no rows"
            elif counts.dim() == 2 and bool((counts.sum(dim=1) != counts[0].sum()).any()):
                problem = "the candidates' row counts differ (every row is in one cluster of each)"
            elif inertia is not None and bool((inertia < 0).any()):
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
        candidates = base["candidates"].double().numpy()
        if not is_seeded(base):
            moved, totals = self._seeding(base, updates)
            chosen = 0  # no inertia yet: the first seeding is the study's until round 1 reports
        else:
            sums = np.sum([u.delta["sums"].double().numpy() for u in updates], axis=0)
            counts = np.sum([u.delta["counts"].double().numpy() for u in updates], axis=0)
            inertia = np.sum([u.delta["inertia"].double().numpy() for u in updates], axis=0)
            if not (np.isfinite(sums).all() and np.isfinite(inertia).all()):
                raise AggregationError("the summed cluster statistics are not finite")
            moved, chosen = lloyd_candidates(candidates, sums, counts, inertia)
            tensors = {"sums": sums, "counts": counts, "inertia": inertia}
            totals = CombineTotals(self.name, "lloyd", tensors)
        state = {
            "centroids": _f64(moved[chosen]),
            "candidates": _f64(moved),
            "seeded": torch.ones((1,), dtype=torch.float64),
            "seed": base["seed"].clone(),
        }
        return Aggregation(
            state, sample_shares(updates), {COMBINE_EXTENSION: totals.to_json_dict()}
        )

    @staticmethod
    def _seeding(
        base: Mapping[str, Tensor], updates: Sequence[ClientUpdate]
    ) -> tuple[npt.NDArray[np.float64], CombineTotals]:
        summaries = []
        for u in updates:
            weights = u.delta["weights"].double().numpy()
            keep = weights > 0
            summaries.append(
                kmeans.SeedSummary(u.delta["centers"].double().numpy()[keep], weights[keep])
            )
        n, k, _ = base["candidates"].shape
        moved = kmeans.agree_candidates(summaries, k, seed=int(base["seed"][0]), n=n)
        tensors = {
            "centers": np.vstack([p.centers for p in summaries]),
            "weights": np.concatenate([p.weights for p in summaries]),
        }
        return moved, CombineTotals(FederatedKMeans.name, "seeding", tensors)

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
