"""Assessment of real-shaped data: injected unique records are caught, an identical copy scores
risk near 1 without crashing (anonymeter issue 32), the card round-trips with no row in it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from consent.anonymity import assess_anonymity
from consent.dataset_assess import assess
from consent.dataset_card import DatasetCard, first_failure
from consent.dataset_errors import MalformedCardError, UnknownColumnError, UnsuitableDataError

QI = ("age", "zip", "sex")
SA = ("diagnosis",)


def _population(rows: int = 600, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "record_id": np.arange(rows),
            "age": rng.integers(3, 8, rows) * 10,
            "zip": rng.integers(0, 3, rows),
            "sex": rng.choice(["f", "m"], rows),
            "bmi": rng.normal(25, 4, rows).round(1),
            "diagnosis": rng.choice(["a", "b", "c"], rows),
        }
    )


def test_ten_injected_unique_records_lower_k_to_one_and_fail_the_threshold() -> None:
    data = _population()
    before = assess_anonymity(data, QI, SA)
    assert before.k >= 5
    rng = np.random.default_rng(9)
    uniques = pd.DataFrame(
        {
            "record_id": np.arange(10) + 10_000,
            "age": 100 + np.arange(10),  # ages nobody else has: ten classes of one
            "zip": rng.integers(0, 3, 10),
            "sex": rng.choice(["f", "m"], 10),
            "bmi": rng.normal(25, 4, 10).round(1),
            "diagnosis": rng.choice(["a", "b", "c"], 10),
        }
    )
    injected = pd.concat([data, uniques], ignore_index=True)
    after = assess_anonymity(injected, QI, SA)
    assert (after.k, after.l) == (1, 1)
    assert after.classes == before.classes + 10
    from consent.dataset_card import AdmissionThresholds, OnChainScores

    scores = OnChainScores(after.k, after.l, 0, 0, 0, 0, len(injected), False)
    limits = AdmissionThresholds(
        min_k=5, min_l=1, max_t_closeness_ppm=10**6, max_risk_ppm=10**6, allow_synthetic=False
    )
    assert first_failure(limits, scores) == "k"


def test_identical_copy_scores_risk_near_one_without_crashing() -> None:
    data = _population(rows=400)
    # two columns with a unique value per row: each half of the linkability attack identifies
    data["bmi"] = np.arange(400) / 10
    data["weight"] = np.random.default_rng(1).permutation(400) + 40.5
    result = assess(data, quasi_identifiers=("bmi", "weight"), sensitive=SA, attacks=100)
    risks = result.risks
    assert risks.singling_out.value > 0.8
    assert risks.linkability.ci_high > 0.8
    assert risks.inference.ci_high > 0.8
    assert result.card.on_chain().singling_out_risk_ppm > 800_000
    assert all(0.0 <= r.ci_low <= r.value <= r.ci_high <= 1.0 for r in risks.by_name().values())


def test_card_holds_scores_and_schema_but_no_row_and_round_trips() -> None:
    data = _population(rows=300)
    data["name"] = [f"person-{i:04d}" for i in range(300)]
    result = assess(data, quasi_identifiers=QI, sensitive=SA, attacks=60)
    card = result.card
    raw = card.to_bytes()
    assert DatasetCard.from_bytes(raw) == card
    assert card.rows == 300
    assert not card.synthetic
    assert "record_id" not in [name for name, _ in card.columns]
    body = json.loads(raw)
    assert body["schema"]["sha256"] == card.schema_sha256
    # no value of any row appears in the card
    assert b"person-" not in raw
    assert ["name", "object"] in body["schema"]["columns"]
    assert card.on_chain().k == result.anonymity.k
    tampered = raw.replace(b'"bmi"', b'"bmx"')
    with pytest.raises(MalformedCardError):
        DatasetCard.from_bytes(tampered)


def test_bad_columns_and_bad_splits_are_named_errors() -> None:
    data = _population(rows=100)
    with pytest.raises(UnknownColumnError, match="height"):
        assess(data, quasi_identifiers=("age", "height"), sensitive=SA)
    with pytest.raises(UnsuitableDataError):
        assess(data, quasi_identifiers=("record_id", "age"), sensitive=SA)
    with pytest.raises(UnsuitableDataError):
        assess(data, quasi_identifiers=QI, sensitive=SA, holdout_fraction=1.0)
    with pytest.raises(UnsuitableDataError):
        assess(data, quasi_identifiers=("age",), sensitive=("age",))
