"""Split a scikit-learn bundled dataset across K simulated hospitals, IID or label-skewed.

The data sets ship with scikit-learn (no download): breast cancer (569 rows, 30 features, binary
classification), diabetes (442 rows, 10 features, regression), digits (1,797 rows, 64 features,
10 classes), wine (178 rows, 13 features, 3 classes) and iris (150 rows, 4 features, clustering
with k = 3; its species label is kept only as the reference labelling the ARI is scored against).

Features are standardized with the mean and standard deviation of the *training* rows (all
hospitals together); the held-out test set is transformed with the same statistics. In a real
federation the hospitals would have to agree on a normalisation (published with the study, or
computed with a secure sum); here it is done once, at split time. For regression the target is
standardized the same way and the statistics are kept in the `Split` (`target_mean`,
`target_scale`) so predictions can be mapped back to the original units.

Label skew ("non-IID"):
- "dirichlet": for every class, the share of that class each hospital receives is drawn from a
  symmetric Dirichlet(alpha); a small alpha gives very different label mixes.
- "shards": rows sorted by label are cut into 2K shards and every hospital gets two at random.
For regression, the "class" of a row is the quantile bin of its target (K bins, at least 2).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import numpy.typing as npt
import torch
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_digits,
    load_iris,
    load_wine,
)
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split
from sklearn.preprocessing import StandardScaler

from fl.data import RecordDataset, Task, write_record_csv
from fl.errors import SplitError

__all__ = [
    "DATASETS",
    "DatasetName",
    "Skew",
    "Split",
    "partition_rows",
    "split_dataset",
    "write_split",
]

logger = logging.getLogger(__name__)

DatasetName = Literal["breast-cancer", "diabetes", "digits", "wine", "iris"]
Skew = Literal["dirichlet", "shards"]
DATASETS: tuple[DatasetName, ...] = get_args(DatasetName)
SKEWS: tuple[Skew, ...] = get_args(Skew)

_MAX_DIRICHLET_DRAWS = 1000
_Loader = Callable[[], tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], list[str], Task]]


def _breast_cancer() -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], list[str], Task]:
    bunch = load_breast_cancer()
    return bunch.data, bunch.target.astype(np.float64), list(bunch.feature_names), "classification"


def _diabetes() -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], list[str], Task]:
    bunch = load_diabetes(scaled=False)
    return bunch.data, bunch.target.astype(np.float64), list(bunch.feature_names), "regression"


def _digits() -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], list[str], Task]:
    bunch = load_digits()
    return bunch.data, bunch.target.astype(np.float64), list(bunch.feature_names), "multiclass"


def _iris() -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], list[str], Task]:
    bunch = load_iris()
    return bunch.data, bunch.target.astype(np.float64), list(bunch.feature_names), "clustering"


def _wine() -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], list[str], Task]:
    bunch = load_wine()
    return bunch.data, bunch.target.astype(np.float64), list(bunch.feature_names), "multiclass"


_LOADERS: dict[DatasetName, _Loader] = {
    "breast-cancer": _breast_cancer,
    "diabetes": _diabetes,
    "digits": _digits,
    "wine": _wine,
    "iris": _iris,
}


@dataclass(frozen=True, eq=False, slots=True)
class Split:
    """Per-hospital training sets and one held-out global test set, with how they were made."""

    dataset: DatasetName
    task: Task
    hospitals: tuple[RecordDataset, ...]
    test: RecordDataset
    non_iid: bool
    skew: Skew | None
    alpha: float | None
    seed: int
    target_mean: float | None
    target_scale: float | None

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self.test.feature_names

    def train_union(self) -> RecordDataset:
        """Every hospital's training rows in one dataset (for the central baseline)."""
        return RecordDataset.concat(self.hospitals)

    def manifest(self) -> dict[str, object]:
        """A JSON-ready description of the split (no data)."""
        return {
            "dataset": self.dataset,
            "task": self.task,
            "non_iid": self.non_iid,
            "skew": self.skew,
            "alpha": self.alpha,
            "seed": self.seed,
            "feature_names": list(self.feature_names),
            "target_mean": self.target_mean,
            "target_scale": self.target_scale,
            "hospitals": [_summary(h) for h in self.hospitals],
            "test": _summary(self.test),
        }


def _summary(part: RecordDataset) -> dict[str, object]:
    labels = part.labels
    if part.task == "classification":
        return {"rows": len(part), "positive_fraction": round(float(labels.mean()), 4)}
    if part.task in ("multiclass", "clustering"):
        counts = np.bincount(labels.numpy().astype(np.int64))
        return {"rows": len(part), "class_counts": counts.tolist()}
    return {"rows": len(part), "label_mean": round(float(labels.mean()), 4)}


def _iid_parts(
    strata: npt.NDArray[np.int64], hospitals: int, seed: int, stratify: bool
) -> list[npt.NDArray[np.intp]]:
    if hospitals == 1:
        return [np.arange(len(strata))]
    folds = (
        StratifiedKFold(n_splits=hospitals, shuffle=True, random_state=seed)
        if stratify
        else KFold(n_splits=hospitals, shuffle=True, random_state=seed)
    )
    return [np.sort(test) for _, test in folds.split(np.zeros(len(strata)), strata)]


def _dirichlet_parts(
    strata: npt.NDArray[np.int64],
    hospitals: int,
    alpha: float,
    min_rows: int,
    rng: np.random.Generator,
) -> list[npt.NDArray[np.intp]]:
    for _ in range(_MAX_DIRICHLET_DRAWS):
        parts: list[list[int]] = [[] for _ in range(hospitals)]
        for value in np.unique(strata):
            rows = rng.permutation(np.flatnonzero(strata == value))
            shares = rng.dirichlet(np.full(hospitals, alpha))
            cuts = (np.cumsum(shares)[:-1] * len(rows)).astype(int)
            for k, chunk in enumerate(np.split(rows, cuts)):
                parts[k].extend(chunk.tolist())
        if min(len(p) for p in parts) >= min_rows:
            return [np.sort(np.asarray(p, dtype=np.intp)) for p in parts]
    raise SplitError(
        f"no Dirichlet(alpha={alpha}) draw gave every one of {hospitals} hospitals "
        f"{min_rows} rows in {_MAX_DIRICHLET_DRAWS} tries; raise alpha or lower the hospital count"
    )


def _shard_parts(
    strata: npt.NDArray[np.int64], hospitals: int, rng: np.random.Generator
) -> list[npt.NDArray[np.intp]]:
    # Shuffle first so rows with equal labels land in shards in random order.
    shuffled = rng.permutation(len(strata))
    ordered = shuffled[np.argsort(strata[shuffled], kind="stable")]
    shards = np.array_split(ordered, 2 * hospitals)
    owner = rng.permutation(2 * hospitals)
    return [
        np.sort(np.concatenate([shards[owner[2 * k]], shards[owner[2 * k + 1]]]))
        for k in range(hospitals)
    ]


def _strata(labels: npt.NDArray[np.float64], task: Task, hospitals: int) -> npt.NDArray[np.int64]:
    if task in ("classification", "multiclass", "clustering"):
        return labels.astype(np.int64)
    bins = max(2, hospitals)
    edges = np.quantile(labels, np.linspace(0.0, 1.0, bins + 1)[1:-1])
    return np.searchsorted(edges, labels, side="right").astype(np.int64)


def _validate(hospitals: int, test_fraction: float, skew: str, alpha: float, min_rows: int) -> None:
    if hospitals < 1:
        raise SplitError(f"hospitals must be at least 1, got {hospitals}")
    if not 0.0 < test_fraction < 1.0:
        raise SplitError(f"test_fraction must be in (0, 1), got {test_fraction}")
    if skew not in SKEWS:
        raise SplitError(f"skew must be one of {SKEWS}, got {skew!r}")
    if not alpha > 0.0:
        raise SplitError(f"alpha must be positive, got {alpha}")
    if min_rows < 1:
        raise SplitError(f"min_rows must be at least 1, got {min_rows}")


def partition_rows(
    strata: npt.NDArray[np.int64],
    hospitals: int,
    *,
    non_iid: bool,
    seed: int,
    skew: Skew = "dirichlet",
    alpha: float = 0.5,
    min_rows: int = 10,
    stratify: bool = True,
) -> list[npt.NDArray[np.intp]]:
    """Row indices of each of `hospitals` parts of rows with the given `strata` (class or bin):
    stratified folds when IID, else the label skew `skew` (see the module docstring)."""
    _validate(hospitals, 0.5, skew, alpha, min_rows)
    if not non_iid:
        return _iid_parts(strata, hospitals, seed, stratify=stratify)
    if skew == "dirichlet":
        return _dirichlet_parts(strata, hospitals, alpha, min_rows, np.random.default_rng(seed))
    return _shard_parts(strata, hospitals, np.random.default_rng(seed))


def _standardized(
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    train_rows: npt.NDArray[np.intp],
    task: Task,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float64], float | None, float | None]:
    """Features scaled on the training rows only; a regression target standardized the same way."""
    features = StandardScaler().fit(x[train_rows]).transform(x).astype(np.float32)
    if task != "regression":
        return features, y, None, None
    mean, scale = float(y[train_rows].mean()), float(y[train_rows].std())
    return features, (y - mean) / scale, mean, scale


def _record_part(
    features: npt.NDArray[np.float32],
    y: npt.NDArray[np.float64],
    indices: npt.NDArray[np.intp],
    task: Task,
    names: list[str],
) -> RecordDataset:
    return RecordDataset(
        record_ids=tuple(f"r{i:05d}" for i in indices),
        features=torch.from_numpy(features[indices]),
        labels=torch.from_numpy(y[indices].astype(np.float32)),
        task=task,
        feature_names=tuple(names),
    )


def split_dataset(
    name: DatasetName,
    hospitals: int,
    *,
    non_iid: bool = False,
    seed: int = 0,
    test_fraction: float = 0.2,
    skew: Skew = "dirichlet",
    alpha: float = 0.5,
    min_rows: int = 10,
) -> Split:
    """Split the bundled data set `name` into a test set and `hospitals` training parts.

    IID parts are shuffled folds, stratified by label for classification (same label mix
    everywhere, sizes within one row). Label-skewed
    parts (`non_iid=True`) follow `skew` and `alpha` (see the module docstring); every hospital gets
    at least `min_rows` rows. Deterministic for a given `seed`. Record ids are `r<row>`, the row's
    index in the original data set.
    """
    if name not in _LOADERS:
        raise SplitError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    _validate(hospitals, test_fraction, skew, alpha, min_rows)
    x, y, names, task = _LOADERS[name]()
    rows = np.arange(len(y))
    train_rows, test_rows = train_test_split(
        rows,
        test_size=test_fraction,
        random_state=seed,
        stratify=y if task != "regression" else None,
    )
    train_rows, test_rows = np.sort(train_rows), np.sort(test_rows)
    if len(train_rows) < hospitals * min_rows:
        raise SplitError(
            f"{len(train_rows)} training rows cannot give {hospitals} hospitals {min_rows} each"
        )
    features, y, target_mean, target_scale = _standardized(x, y, train_rows, task)
    strata = _strata(y[train_rows], task, hospitals)
    local = partition_rows(
        strata,
        hospitals,
        non_iid=non_iid,
        seed=seed,
        skew=skew,
        alpha=alpha,
        min_rows=min_rows,
        stratify=task != "regression",
    )

    split = Split(
        dataset=name,
        task=task,
        hospitals=tuple(_record_part(features, y, train_rows[i], task, names) for i in local),
        test=_record_part(features, y, test_rows, task, names),
        non_iid=non_iid,
        skew=skew if non_iid else None,
        alpha=alpha if non_iid and skew == "dirichlet" else None,
        seed=seed,
        target_mean=target_mean,
        target_scale=target_scale,
    )
    logger.debug("split %s into %d hospitals (non_iid=%s)", name, hospitals, non_iid)
    return split


def write_split(split: Split, out_dir: Path | str) -> tuple[Path, ...]:
    """Write `hospital-1.csv` ... `hospital-K.csv`, `test.csv` and `split.json` into `out_dir`.

    The CSVs have a `record_id` column, the features and a `label` column (`load_record_csv`
    reads them back). Returns the paths written, in that order.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for k, hospital in enumerate(split.hospitals, start=1):
        path = out / f"hospital-{k}.csv"
        write_record_csv(hospital, path)
        paths.append(path)
    test_path = out / "test.csv"
    write_record_csv(split.test, test_path)
    manifest_path = out / "split.json"
    manifest_path.write_text(json.dumps(split.manifest(), indent=2) + "\n", encoding="utf-8")
    return (*paths, test_path, manifest_path)
