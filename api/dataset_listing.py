"""The dataset inventory as JSON-ready records, shared by `consentfl dataset list` and the
HTTP routes: every registered card with its scores and the studies it is offered to."""

from __future__ import annotations

from typing import Any

from chain.dataset_inventory import DatasetInventory, DatasetRecord
from consent.dataset_card import PPM, AdmissionThresholds
from consent.ids import Address, StudyId

__all__ = ["dataset_record", "inventory_listing", "study_datasets", "thresholds_record"]


def dataset_record(inventory: DatasetInventory, record: DatasetRecord) -> dict[str, Any]:
    """One registered dataset: owner, card, on-chain scores (fractions), studies using it."""
    scores = record.scores
    return {
        "card_sha256": "0x" + bytes(record.card_hash).hex(),
        "hospital": record.hospital,
        "card_cid": record.card_cid,
        "registered_block": record.registered_block,
        "synthetic": scores.synthetic,
        "rows": scores.rows,
        "k": scores.k,
        "l": scores.l,
        "t_closeness": scores.t_closeness_ppm / PPM,
        "risk_upper": {
            "singling_out": scores.singling_out_risk_ppm / PPM,
            "linkability": scores.linkability_risk_ppm / PPM,
            "inference": scores.inference_risk_ppm / PPM,
        },
        "studies": ["0x" + bytes(s).hex() for s in inventory.studies_of(record.card_hash)],
    }


def inventory_listing(inventory: DatasetInventory) -> list[dict[str, Any]]:
    """Every registered dataset, in registration order."""
    return [dataset_record(inventory, inventory.get_dataset(h)) for h in inventory.datasets()]


def thresholds_record(thresholds: AdmissionThresholds | None) -> dict[str, Any] | None:
    """A study's thresholds as fractions, None when it declared none."""
    if thresholds is None:
        return None
    return {
        "min_k": thresholds.min_k,
        "min_l": thresholds.min_l,
        "max_t_closeness": thresholds.max_t_closeness_ppm / PPM,
        "max_risk": thresholds.max_risk_ppm / PPM,
        "allow_synthetic": thresholds.allow_synthetic,
    }


def study_datasets(
    inventory: DatasetInventory, study: StudyId, members: tuple[Address, ...]
) -> dict[str, Any]:
    """A study's thresholds and the dataset each member offered (None if it offered none)."""
    offered = {}
    for hospital in members:
        card_hash = inventory.offered_dataset(study, hospital)
        offered[hospital] = (
            None
            if card_hash is None
            else dataset_record(inventory, inventory.get_dataset(card_hash))
        )
    return {"thresholds": thresholds_record(inventory.thresholds(study)), "members": offered}
