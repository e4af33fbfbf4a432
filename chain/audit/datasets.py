"""`dataset-card` and `dataset-threshold`: every member's offered card against the chain and the
study's admission thresholds (studies with thresholds only; see `dataset_view`).

* `dataset-card`: the member offered a registered card; its bytes are in the store, their SHA-256
  is the registered card hash, they parse as a card, and the scores they state are the scores
  registered on chain (a hospital that registers better scores than its card says is caught
  here: the contract can compare registered scores to thresholds, never to the card);
* `dataset-threshold`: the verified card's scores meet the study's thresholds (thresholds
  declared after a hospital joined are checked here, since the contract checked only at
  admission). A member whose card failed `dataset-card` gets no threshold check.
"""

from __future__ import annotations

import hashlib
from dataclasses import fields
from typing import Final

from chain.audit.dataset_view import DatasetOffer
from chain.audit.report import AuditCheck
from chain.audit.view import AuditView
from chain.store import ArtifactNotFoundError, ArtifactReader, CorruptArtifactError
from consent.dataset_card import DatasetCard, first_failure
from consent.dataset_errors import MalformedCardError

__all__ = ["DatasetCards", "DatasetThresholds", "verified_card"]


def verified_card(offer: DatasetOffer, store: ArtifactReader) -> tuple[DatasetCard | None, str]:
    """The offered card, read and checked against its on-chain hash and scores, or None and why."""
    record = offer.record
    if record is None:
        return None, "member offered no dataset to a study with thresholds"
    try:
        data = store.get(record.card_cid)
    except (ArtifactNotFoundError, CorruptArtifactError) as exc:
        return None, f"card not retrievable: {exc}"
    if hashlib.sha256(data).digest() != bytes(record.card_hash):
        return None, "card bytes do not match the registered card hash"
    try:
        card = DatasetCard.from_bytes(data)
    except MalformedCardError as exc:
        return None, str(exc)
    stated = card.on_chain()
    if stated != record.scores:
        differing = [
            f.name
            for f in fields(stated)
            if getattr(stated, f.name) != getattr(record.scores, f.name)
        ]
        return None, f"registered scores differ from the card's on {', '.join(differing)}"
    return card, "card matches its hash and its registered scores"


def _subject(offer: DatasetOffer) -> str:
    return "card" if offer.record is None else f"card {offer.record.card_cid}"


class DatasetCards:
    """One check per member of a study with thresholds."""

    name: Final = "dataset-card"

    def run(self, view: AuditView) -> list[AuditCheck]:
        """See the module docstring."""
        if view.datasets is None:
            return []
        checks = []
        for offer in view.datasets.offers:
            card, detail = verified_card(offer, view.artifacts)
            checks.append(
                AuditCheck(
                    self.name, card is not None, _subject(offer), detail, None, offer.hospital
                )
            )
        return checks


class DatasetThresholds:
    """One check per member whose card verified."""

    name: Final = "dataset-threshold"

    def run(self, view: AuditView) -> list[AuditCheck]:
        """See the module docstring."""
        if view.datasets is None:
            return []
        checks = []
        for offer in view.datasets.offers:
            card, _ = verified_card(offer, view.artifacts)
            if card is None:
                continue
            failed = first_failure(view.datasets.thresholds, card.on_chain())
            detail = "meets every threshold" if failed is None else f"fails the {failed} threshold"
            checks.append(
                AuditCheck(
                    self.name, failed is None, "admission thresholds", detail, None, offer.hospital
                )
            )
        return checks
