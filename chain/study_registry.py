"""Typed facade of the StudyRegistry contract."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from chain._facade import ContractFacade, string_gas
from chain.events import (
    CoordinatorChanged,
    HospitalAdded,
    HospitalRemoved,
    StudyCreated,
    StudyPurposeDeclared,
)
from consent.ids import Address, Bytes32, StudyId, parse_address
from consent.purposes import StudyPurpose

__all__ = ["Study", "StudyRegistry"]

_GAS_CREATE: Final = 200_000
_GAS_MEMBERSHIP: Final = 120_000
_GAS_ADMISSION_CHECK: Final = 40_000
"""addHospital's call to the DatasetInventory (thresholds and the offered card's scores)."""


@dataclass(frozen=True, slots=True)
class Study:
    """A study as recorded on chain."""

    study: StudyId
    coordinator: Address
    aggregator: Address
    aggregator_seal_key: Bytes32
    min_updates: int
    metadata_cid: str
    created_block: int


class StudyRegistry(ContractFacade):
    """Studies, their coordinator and aggregator, and member hospitals."""

    CONTRACT = "StudyRegistry"

    def create_study(
        self,
        study: StudyId,
        *,
        aggregator: Address,
        aggregator_seal_key: Bytes32,
        min_updates: int,
        metadata_cid: str,
    ) -> StudyCreated:
        """Create `study` with the sender as its coordinator (needs COORDINATOR_ROLE)."""
        receipt = self._transact(
            _GAS_CREATE + string_gas(metadata_cid),
            "createStudy",
            bytes(study),
            aggregator,
            bytes(aggregator_seal_key),
            min_updates,
            metadata_cid,
        )
        return self._single_event(receipt, StudyCreated)

    def add_hospital(self, study: StudyId, hospital: Address) -> HospitalAdded:
        """Admit `hospital` (the sender must be the study's coordinator; a study with admission
        thresholds reverts with `chain.inventory_errors`' `NoDatasetOfferedError` or
        `DatasetBelowThresholdError`)."""
        receipt = self._transact(
            _GAS_MEMBERSHIP + _GAS_ADMISSION_CHECK, "addHospital", bytes(study), hospital
        )
        return self._single_event(receipt, HospitalAdded)

    def declare_purpose(self, study: StudyId, purpose: StudyPurpose) -> StudyPurposeDeclared:
        """Declare the study's DUO research purpose (coordinator only; once, before any
        hospital is admitted)."""
        receipt = self._transact(_GAS_MEMBERSHIP, "declarePurpose", bytes(study), purpose.mask)
        return self._single_event(receipt, StudyPurposeDeclared)

    def study_purpose(self, study: StudyId, block: int | None = None) -> StudyPurpose | None:
        """The study's declared purpose (None: none declared, every consent covers it)."""
        return StudyPurpose.from_mask(int(self._call("studyPurpose", bytes(study), block=block)))

    def set_coordinator(self, study: StudyId, coordinator: Address) -> CoordinatorChanged:
        """Hand `study` to `coordinator` (the sender must hold DEFAULT_ADMIN_ROLE; the new
        coordinator must hold COORDINATOR_ROLE)."""
        receipt = self._transact(_GAS_MEMBERSHIP, "setCoordinator", bytes(study), coordinator)
        return self._single_event(receipt, CoordinatorChanged)

    def set_dataset_inventory(self, inventory: Address) -> None:
        """Set the DatasetInventory gating `add_hospital`, once (DEFAULT_ADMIN_ROLE only)."""
        self._transact(_GAS_MEMBERSHIP, "setDatasetInventory", inventory)

    def dataset_inventory(self) -> Address | None:
        """The DatasetInventory gating admission, None if unset."""
        raw = str(self._call("datasetInventory"))
        return None if int(raw, 16) == 0 else parse_address(raw)

    def remove_hospital(self, study: StudyId, hospital: Address) -> HospitalRemoved:
        """Remove `hospital` (the sender must be the study's coordinator)."""
        receipt = self._transact(_GAS_MEMBERSHIP, "removeHospital", bytes(study), hospital)
        return self._single_event(receipt, HospitalRemoved)

    def is_member(self, study: StudyId, hospital: Address) -> bool:
        """Whether `hospital` is a member of `study`."""
        return bool(self._call("isMember", bytes(study), hospital))

    def hospitals(self, study: StudyId) -> tuple[Address, ...]:
        """The member hospitals of `study`."""
        return tuple(parse_address(a) for a in self._call("hospitals", bytes(study)))

    def study_exists(self, study: StudyId) -> bool:
        """Whether `study` was created."""
        return bool(self._call("studyExists", bytes(study)))

    def get_study(self, study: StudyId) -> Study:
        """The study's record; raises `UnknownStudyError` if it does not exist."""
        raw = self._call("getStudy", bytes(study))
        return Study(
            study=study,
            coordinator=parse_address(raw[0]),
            aggregator=parse_address(raw[1]),
            aggregator_seal_key=Bytes32(bytes(raw[2])),
            min_updates=int(raw[3]),
            metadata_cid=str(raw[4]),
            created_block=int(raw[5]),
        )

    def has_role(self, role: str, account: Address) -> bool:
        """Whether `account` holds `role` ("COORDINATOR_ROLE" or "DEFAULT_ADMIN_ROLE")."""
        role_id = self._call(role) if role != "DEFAULT_ADMIN_ROLE" else bytes(32)
        return bool(self._call("hasRole", role_id, account))
