"""The dataset side of the audit's view: a study's admission thresholds and each member's offer.

`read_datasets` takes it from the DatasetInventory of a deployment (issue 18): None when the
deployment has no inventory or the study declared no thresholds, so such a study yields no
dataset checks. Members are the study's members at the view's block, replayed from its
`HospitalAdded` / `HospitalRemoved` events.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from chain.dataset_inventory import DatasetInventory, DatasetRecord
from chain.events import HospitalAdded, HospitalRemoved
from consent.dataset_card import AdmissionThresholds
from consent.ids import Address, StudyId

__all__ = ["DatasetOffer", "DatasetSnapshot", "current_members", "read_datasets"]


@dataclass(frozen=True, slots=True)
class DatasetOffer:
    """What one member hospital offered the study: a registered card, or nothing (None)."""

    hospital: Address
    record: DatasetRecord | None


@dataclass(frozen=True, slots=True)
class DatasetSnapshot:
    """A study's admission thresholds and the offer of every current member, in join order."""

    thresholds: AdmissionThresholds
    offers: tuple[DatasetOffer, ...]


def current_members(events: Iterable[HospitalAdded | HospitalRemoved]) -> tuple[Address, ...]:
    """The members after replaying `events` in chain order (join order kept)."""
    members: dict[str, Address] = {}
    for event in events:
        if isinstance(event, HospitalAdded):
            members.setdefault(event.hospital.lower(), event.hospital)
        else:
            members.pop(event.hospital.lower(), None)
    return tuple(members.values())


def read_datasets(
    inventory: DatasetInventory | None, study: StudyId, members: Iterable[Address]
) -> DatasetSnapshot | None:
    """The thresholds of `study` and each member's offered record (None without thresholds).

    Raises `ChainUnavailableError` when the node is down.
    """
    if inventory is None:
        return None
    thresholds = inventory.thresholds(study)
    if thresholds is None:
        return None
    offers = []
    for hospital in members:
        card_hash = inventory.offered_dataset(study, hospital)
        record = None if card_hash is None else inventory.get_dataset(card_hash)
        offers.append(DatasetOffer(hospital, record))
    return DatasetSnapshot(thresholds, tuple(offers))
