"""Metrics of the learner families, through scikit-learn's definitions.

Multiclass: accuracy, cross-entropy, macro F1 and F1 per class. Clustering: inertia (sum of
squared distances to the nearest centroid) and, when reference labels are known, the adjusted
Rand index. (Binary classification and regression metrics are in `fl.train`: accuracy and BCE;
MSE, MAE and R^2.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sklearn.metrics import adjusted_rand_score, f1_score

__all__ = ["ClusteringMetrics", "MulticlassMetrics", "clustering_metrics", "multiclass_metrics"]


@dataclass(frozen=True, slots=True)
class MulticlassMetrics:
    num_samples: int
    loss: float
    """Mean softmax cross-entropy."""
    accuracy: float
    macro_f1: float
    f1_per_class: tuple[float, ...]

    def to_json_dict(self) -> dict[str, object]:
        return {
            "task": "multiclass",
            "num_samples": self.num_samples,
            "loss": self.loss,
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "f1_per_class": list(self.f1_per_class),
        }


def multiclass_metrics(
    labels: npt.ArrayLike, predicted: npt.ArrayLike, n_classes: int, loss: float = math.nan
) -> MulticlassMetrics:
    """Accuracy and F1 (per class over all `n_classes`, and their macro mean)."""
    y = np.asarray(labels, dtype=np.int64)
    p = np.asarray(predicted, dtype=np.int64)
    per_class = f1_score(y, p, labels=list(range(n_classes)), average=None, zero_division=0.0)
    return MulticlassMetrics(
        num_samples=len(y),
        loss=float(loss),
        accuracy=float((y == p).mean()),
        macro_f1=float(np.mean(per_class)),
        f1_per_class=tuple(float(v) for v in per_class),
    )


@dataclass(frozen=True, slots=True)
class ClusteringMetrics:
    num_samples: int
    inertia: float
    ari: float | None
    """Adjusted Rand index against reference labels (None when there are none)."""

    @property
    def loss(self) -> float:
        return self.inertia

    def to_json_dict(self) -> dict[str, object]:
        return {
            "task": "clustering",
            "num_samples": self.num_samples,
            "inertia": self.inertia,
            "ari": self.ari,
        }


def clustering_metrics(
    features: npt.ArrayLike,
    centroids: npt.ArrayLike,
    reference: npt.ArrayLike | None = None,
) -> ClusteringMetrics:
    """Inertia of `centroids` on `features` and, given `reference` labels, the ARI."""
    x = np.asarray(features, dtype=np.float64)
    c = np.asarray(centroids, dtype=np.float64)
    distances = ((x[:, None, :] - c[None, :, :]) ** 2).sum(axis=2)
    assigned = np.argmin(distances, axis=1)
    ari = None if reference is None else float(adjusted_rand_score(reference, assigned))
    return ClusteringMetrics(len(x), float(distances.min(axis=1).sum()), ari)
