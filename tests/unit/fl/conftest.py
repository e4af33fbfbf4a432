"""Small datasets and specs shared by the `fl` unit tests."""

from __future__ import annotations

import pytest
import torch

from consent.ids import Address, parse_address
from fl.data import HospitalDataset
from fl.split import Split, split_dataset


def patient(i: int) -> Address:
    """A deterministic, well-formed patient address."""
    return parse_address(f"0x{i + 1:040x}")


@pytest.fixture
def tiny_classification() -> HospitalDataset:
    """40 rows, 3 features, label = (x0 + x1 > 0); row i belongs to patient i // 2."""
    generator = torch.Generator().manual_seed(7)
    features = torch.randn(40, 3, generator=generator)
    labels = (features[:, 0] + features[:, 1] > 0).float()
    return HospitalDataset(
        patients=tuple(patient(i // 2) for i in range(40)),
        features=features,
        labels=labels,
        task="classification",
        feature_names=("a", "b", "c"),
    )


@pytest.fixture(scope="session")
def breast_cancer_iid() -> Split:
    return split_dataset("breast-cancer", 3, non_iid=False, seed=0)
