"""The dataset checks over hand-built views (a lying node's answers), with a real local store:
registered scores better than the card's, a card in the store under another hash, no offer, and
thresholds the verified card fails; a study without thresholds yields no dataset check."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from chain.audit import CHECKS, LedgerView, run_checks
from chain.audit.dataset_view import DatasetOffer, DatasetSnapshot
from chain.audit.report import AuditCheck
from chain.dataset_inventory import DatasetRecord
from chain.exclusions import ExclusionProofs
from chain.store import LocalStore
from consent.dataset_card import AdmissionThresholds, DatasetCard, Risk
from consent.ids import Address, Bytes32, parse_address, study_id

HOSPITAL: Address = parse_address("0x" + "11" * 20)
LIMITS = AdmissionThresholds(
    min_k=5, min_l=2, max_t_closeness_ppm=400_000, max_risk_ppm=200_000, allow_synthetic=False
)


def _card(k: int, risk: float) -> DatasetCard:
    return DatasetCard(
        columns=(("age", "int64"), ("label", "int64")),
        rows=300,
        quasi_identifiers=("age",),
        sensitive=("label",),
        k=k,
        l=2,
        t_closeness=0.1,
        risks={n: Risk(risk / 2, 0.0, risk) for n in ("singling_out", "linkability", "inference")},
        synthetic=False,
        tools={"consentfl": "test"},
        extensions={},
    )


def _view(store: LocalStore, datasets: DatasetSnapshot | None) -> LedgerView:
    return LedgerView(
        study_id("datasets"), 10, (), (), (), {}, store, ExclusionProofs(), datasets=datasets
    )


def _offer(store: LocalStore, card: DatasetCard, registered: DatasetCard) -> DatasetOffer:
    """`card` in the store; the chain (as the node reports it) holds `registered`'s scores."""
    cid = store.put(card.to_bytes())
    record = DatasetRecord(Bytes32(card.sha256), HOSPITAL, cid, registered.on_chain(), 3)
    return DatasetOffer(HOSPITAL, record)


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "store")


DATASET_CHECKS = ("dataset-card", "dataset-threshold")


def _dataset_results(view: LedgerView) -> list[AuditCheck]:
    """Every audit check run over `view`; only the dataset checks' results kept (the other checks
    answer this bare history too, e.g. privacy-budget with "not a dp-mode study")."""
    return [c for c in run_checks(view).checks if c.check in DATASET_CHECKS]


def _results(view: LedgerView) -> dict[str, tuple[bool, str]]:
    return {c.check: (c.passed, c.detail) for c in _dataset_results(view)}


def test_both_dataset_checks_are_registered_in_report_order() -> None:
    assert CHECKS[-2:] == ("dataset-card", "dataset-threshold")


def test_honest_card_passes_both(store: LocalStore) -> None:
    honest = _card(k=8, risk=0.05)
    view = _view(store, DatasetSnapshot(LIMITS, (_offer(store, honest, honest),)))
    assert _results(view) == {
        "dataset-card": (True, "card matches its hash and its registered scores"),
        "dataset-threshold": (True, "meets every threshold"),
    }


def test_registered_scores_that_lie_about_the_card_are_caught(store: LocalStore) -> None:
    honest = _card(k=2, risk=0.6)  # what the assessment found: fails min k and max risk
    claimed = _card(k=9, risk=0.01)  # what was registered on chain: would pass the contract
    view = _view(store, DatasetSnapshot(LIMITS, (_offer(store, honest, claimed),)))
    report = run_checks(view)
    assert not report.passed
    (failure,) = report.failures
    assert failure.check == "dataset-card"
    assert failure.hospital == HOSPITAL
    assert failure.detail.startswith("registered scores differ from the card's on k, ")
    assert "inference_risk_ppm" in failure.detail
    assert "dataset-threshold" not in {c.check for c in report.checks}


def test_card_whose_bytes_are_not_the_registered_hash_is_caught(store: LocalStore) -> None:
    card = _card(k=8, risk=0.05)
    offer = _offer(store, card, card)
    assert offer.record is not None
    swapped_cid = store.put(dataclasses.replace(card, rows=301).to_bytes())
    record = dataclasses.replace(offer.record, card_cid=swapped_cid)
    view = _view(store, DatasetSnapshot(LIMITS, (DatasetOffer(HOSPITAL, record),)))
    assert _results(view) == {
        "dataset-card": (False, "card bytes do not match the registered card hash")
    }


def test_member_without_an_offer_and_weak_card_fail(store: LocalStore) -> None:
    weak = _card(k=3, risk=0.05)
    silent = parse_address("0x" + "22" * 20)
    offers = (_offer(store, weak, weak), DatasetOffer(silent, None))
    checks = _dataset_results(_view(store, DatasetSnapshot(LIMITS, offers)))
    found = {(c.hospital, c.check): (c.passed, c.detail) for c in checks}
    assert found == {
        (HOSPITAL, "dataset-card"): (True, "card matches its hash and its registered scores"),
        (silent, "dataset-card"): (False, "member offered no dataset to a study with thresholds"),
        (HOSPITAL, "dataset-threshold"): (False, "fails the k threshold"),
    }


def test_study_without_thresholds_yields_no_dataset_check(store: LocalStore) -> None:
    assert _dataset_results(_view(store, None)) == []
