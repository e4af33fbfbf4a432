from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from fl.data import load_record_csv
from fl.errors import SplitError
from fl.split import Split, split_dataset, write_split


def positive_fractions(split: Split) -> list[float]:
    return [float(h.labels.mean()) for h in split.hospitals]


def spread(values: list[float]) -> float:
    return max(values) - min(values)


def test_iid_split_partitions_every_row_once(breast_cancer_iid: Split) -> None:
    ids = [r for h in breast_cancer_iid.hospitals for r in h.record_ids]
    ids += list(breast_cancer_iid.test.record_ids)

    assert len(ids) == len(set(ids)) == 569
    assert len(breast_cancer_iid.test) == round(0.2 * 569)


def test_iid_split_has_equal_sizes_and_label_mix(breast_cancer_iid: Split) -> None:
    sizes = [len(h) for h in breast_cancer_iid.hospitals]

    assert max(sizes) - min(sizes) <= 1
    assert spread(positive_fractions(breast_cancer_iid)) < 0.02


@pytest.mark.parametrize("skew", ["dirichlet", "shards"])
def test_label_skewed_split_differs_in_label_mix(skew: str) -> None:
    split = split_dataset("breast-cancer", 3, non_iid=True, skew=skew, seed=0)  # type: ignore[arg-type]

    assert spread(positive_fractions(split)) > 0.2
    assert min(len(h) for h in split.hospitals) >= 10
    assert sum(len(h) for h in split.hospitals) == 569 - len(split.test)


def test_smaller_dirichlet_alpha_gives_more_skew() -> None:
    def mean_spread(alpha: float) -> float:
        return float(
            np.mean(
                [
                    spread(
                        positive_fractions(
                            split_dataset("breast-cancer", 4, non_iid=True, alpha=alpha, seed=s)
                        )
                    )
                    for s in range(5)
                ]
            )
        )

    assert mean_spread(0.1) > mean_spread(100.0)


def test_regression_skew_splits_by_target_quantiles() -> None:
    iid = split_dataset("diabetes", 3, non_iid=False, seed=0)
    skewed = split_dataset("diabetes", 3, non_iid=True, skew="shards", seed=0)

    def label_means(split: Split) -> list[float]:
        return [float(h.labels.mean()) for h in split.hospitals]

    assert skewed.task == "regression"
    assert spread(label_means(skewed)) > 3 * spread(label_means(iid))


def test_features_and_regression_target_are_standardized_on_training_rows() -> None:
    split = split_dataset("diabetes", 2, seed=3)
    pooled = split.train_union()

    assert torch.allclose(pooled.features.mean(0), torch.zeros(10), atol=1e-5)
    assert torch.allclose(pooled.features.std(0, correction=0), torch.ones(10), atol=1e-4)
    assert abs(float(pooled.labels.mean())) < 1e-5
    assert split.target_mean is not None
    assert split.target_scale is not None
    assert split.target_scale > 1


def test_same_seed_gives_identical_split_and_another_seed_does_not() -> None:
    a = split_dataset("breast-cancer", 3, non_iid=True, seed=11)
    b = split_dataset("breast-cancer", 3, non_iid=True, seed=11)
    c = split_dataset("breast-cancer", 3, non_iid=True, seed=12)

    assert [h.record_ids for h in a.hospitals] == [h.record_ids for h in b.hospitals]
    assert all(
        torch.equal(x.features, y.features) for x, y in zip(a.hospitals, b.hospitals, strict=True)
    )
    assert [h.record_ids for h in a.hospitals] != [h.record_ids for h in c.hospitals]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"hospitals": 0}, "at least 1"),
        ({"hospitals": 100}, "cannot give 100 hospitals"),
        ({"hospitals": 3, "test_fraction": 1.0}, "test_fraction"),
        ({"hospitals": 3, "alpha": 0.0}, "alpha"),
    ],
)
def test_impossible_split_requests_raise_split_error(
    kwargs: dict[str, float], message: str
) -> None:
    with pytest.raises(SplitError, match=message):
        split_dataset("breast-cancer", **kwargs)  # type: ignore[arg-type]


def test_unknown_dataset_is_rejected() -> None:
    with pytest.raises(SplitError, match="unknown dataset"):
        split_dataset("mnist", 2)  # type: ignore[arg-type]


def test_write_split_files_load_back_identically(tmp_path: Path, breast_cancer_iid: Split) -> None:
    paths = write_split(breast_cancer_iid, tmp_path / "out")

    assert [p.name for p in paths] == [
        "hospital-1.csv",
        "hospital-2.csv",
        "hospital-3.csv",
        "test.csv",
        "split.json",
    ]
    for path, part in zip(
        paths[:-1], (*breast_cancer_iid.hospitals, breast_cancer_iid.test), strict=True
    ):
        loaded = load_record_csv(path)
        assert loaded.record_ids == part.record_ids
        assert torch.equal(loaded.features, part.features)
        assert torch.equal(loaded.labels, part.labels)
        assert loaded.feature_names == part.feature_names
    manifest = json.loads(paths[-1].read_text())
    assert manifest["dataset"] == "breast-cancer"
    assert [h["rows"] for h in manifest["hospitals"]] == [
        len(h) for h in breast_cancer_iid.hospitals
    ]
