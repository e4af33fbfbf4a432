"""The audit's dataset checks: every member's offered card against the chain and the thresholds.

For a study that declared admission thresholds, and for every current member hospital:

* `dataset-card`: the hospital offered a registered card; its bytes are in the store, their
  SHA-256 is the registered card hash, they parse as a card, and the scores they state are the
  scores registered on chain (a hospital that registers better scores than its card says is
  caught here);
* `dataset-threshold`: the card's scores meet the study's thresholds (thresholds declared after a
  hospital joined are checked here, since the contract checked only at admission).

A study without thresholds yields no dataset checks.
"""

from __future__ import annotations

import hashlib

from chain.audit import AuditCheck
from chain.dataset_inventory import DatasetInventory
from chain.store import ArtifactNotFoundError, ArtifactStore, CorruptArtifactError
from chain.study_registry import StudyRegistry
from consent.dataset_card import DatasetCard, first_failure
from consent.dataset_errors import MalformedCardError
from consent.ids import Address, StudyId

__all__ = ["DATASET_CHECKS", "check_datasets"]

DATASET_CHECKS = ("dataset-card", "dataset-threshold")


def _card_check(
    inventory: DatasetInventory, store: ArtifactStore, study: StudyId, hospital: Address
) -> tuple[AuditCheck, DatasetCard | None]:
    def result(passed: bool, detail: str, subject: str = "card") -> AuditCheck:
        return AuditCheck("dataset-card", passed, subject, detail, hospital=hospital)

    card_hash = inventory.offered_dataset(study, hospital)
    if card_hash is None:
        return result(False, "member offered no dataset to a study with thresholds"), None
    record = inventory.get_dataset(card_hash)
    subject = f"card {record.card_cid}"
    try:
        data = store.get(record.card_cid)
    except (ArtifactNotFoundError, CorruptArtifactError) as exc:
        return result(False, f"card not retrievable: {exc}", subject), None
    if hashlib.sha256(data).digest() != bytes(card_hash):
        return result(False, "card bytes do not match the registered card hash", subject), None
    try:
        card = DatasetCard.from_bytes(data)
    except MalformedCardError as exc:
        return result(False, str(exc), subject), None
    stated = card.on_chain()
    if stated != record.scores:
        differing = [
            name
            for name in stated.__dataclass_fields__
            if getattr(stated, name) != getattr(record.scores, name)
        ]
        detail = f"registered scores differ from the card's on {', '.join(differing)}"
        return result(False, detail, subject), None
    return result(True, "card matches its hash and its registered scores", subject), card


def check_datasets(
    studies: StudyRegistry, inventory: DatasetInventory, store: ArtifactStore, study: StudyId
) -> list[AuditCheck]:
    """The dataset checks of `study` (none when it declared no thresholds)."""
    thresholds = inventory.thresholds(study)
    if thresholds is None:
        return []
    checks: list[AuditCheck] = []
    for hospital in studies.hospitals(study):
        card_check, card = _card_check(inventory, store, study, hospital)
        checks.append(card_check)
        if card is None:
            continue
        failed = first_failure(thresholds, card.on_chain())
        checks.append(
            AuditCheck(
                "dataset-threshold",
                failed is None,
                "admission thresholds",
                "meets every threshold" if failed is None else f"fails the {failed} threshold",
                hospital=hospital,
            )
        )
    return checks
