// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {EnumerableSet} from "@openzeppelin/contracts/utils/structs/EnumerableSet.sol";
import {DuoPurposes} from "./DuoPurposes.sol";
import {IDatasetInventory} from "./interfaces/IDatasetInventory.sol";
import {IStudyRegistry} from "./interfaces/IStudyRegistry.sol";

/**
 * @title StudyRegistry
 * @notice Studies, their coordinator and aggregator, and their member hospitals.
 * The deployer holds DEFAULT_ADMIN_ROLE and COORDINATOR_ROLE; coordinators create studies.
 * A study's powers follow the role: a coordinator whose role was revoked can no longer manage
 * its studies, and the admin can hand them to another coordinator.
 */
contract StudyRegistry is IStudyRegistry, AccessControl {
    using EnumerableSet for EnumerableSet.AddressSet;

    /// @notice Role allowed to create studies.
    bytes32 public constant COORDINATOR_ROLE = keccak256("COORDINATOR_ROLE");

    mapping(bytes32 studyId => Study) private _studies;
    mapping(bytes32 studyId => EnumerableSet.AddressSet) private _members;
    // --- dataset admission gate (issue 18): the inventory, set once by the admin ---
    IDatasetInventory private _inventory;

    /// @dev A study's declared purpose; `locked` once declared or once a hospital was admitted.
    struct PurposeSlot {
        uint64 purpose;
        bool locked;
    }

    mapping(bytes32 studyId => PurposeSlot) private _purposes;

    /// @notice Grants the deployer the admin and coordinator roles.
    constructor() {
        _grantRole(DEFAULT_ADMIN_ROLE, msg.sender);
        _grantRole(COORDINATOR_ROLE, msg.sender);
    }

    /// @inheritdoc IStudyRegistry
    function createStudy(
        bytes32 studyId,
        address aggregator,
        bytes32 aggregatorSealKey,
        uint32 minUpdates,
        string calldata metadataCid
    ) external onlyRole(COORDINATOR_ROLE) {
        if (_studies[studyId].createdBlock != 0) revert StudyAlreadyExists(studyId);
        if (aggregator == address(0)) revert ZeroAddress();
        if (minUpdates == 0) revert InvalidMinUpdates(minUpdates);
        _studies[studyId] = Study({
            coordinator: msg.sender,
            aggregator: aggregator,
            aggregatorSealKey: aggregatorSealKey,
            minUpdates: minUpdates,
            metadataCid: metadataCid,
            createdBlock: block.number
        });
        emit StudyCreated(studyId, msg.sender, aggregator, aggregatorSealKey, minUpdates, metadataCid);
    }

    /// @inheritdoc IStudyRegistry
    function setCoordinator(bytes32 studyId, address coordinator)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        Study storage study = _studies[studyId];
        if (study.createdBlock == 0) revert UnknownStudy(studyId);
        if (coordinator == address(0)) revert ZeroAddress();
        if (!hasRole(COORDINATOR_ROLE, coordinator)) revert CoordinatorLacksRole(studyId, coordinator);
        address previous = study.coordinator;
        if (previous == coordinator) return;
        study.coordinator = coordinator;
        emit CoordinatorChanged(studyId, previous, coordinator);
    }

    /// @inheritdoc IStudyRegistry
    function addHospital(bytes32 studyId, address hospital) external {
        _checkCoordinator(studyId);
        if (hospital == address(0)) revert ZeroAddress();
        if (address(_inventory) != address(0)) _inventory.checkAdmission(studyId, hospital);
        if (!_members[studyId].add(hospital)) revert HospitalAlreadyMember(studyId, hospital);
        _purposes[studyId].locked = true; // consents may be counted from now on
        emit HospitalAdded(studyId, hospital);
    }

    /// @inheritdoc IStudyRegistry
    function setDatasetInventory(IDatasetInventory inventory)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        if (address(_inventory) != address(0)) revert DatasetInventoryAlreadySet(address(_inventory));
        if (address(inventory) == address(0)) revert ZeroAddress();
        _inventory = inventory;
        emit DatasetInventorySet(address(inventory));
    }

    /// @inheritdoc IStudyRegistry
    function datasetInventory() external view returns (address) {
        return address(_inventory);
    }

    /// @inheritdoc IStudyRegistry
    function removeHospital(bytes32 studyId, address hospital) external {
        _checkCoordinator(studyId);
        if (!_members[studyId].remove(hospital)) revert HospitalNotMember(studyId, hospital);
        emit HospitalRemoved(studyId, hospital);
    }

    /// @inheritdoc IStudyRegistry
    function isMember(bytes32 studyId, address hospital) external view returns (bool) {
        return _members[studyId].contains(hospital);
    }

    /// @inheritdoc IStudyRegistry
    function hospitals(bytes32 studyId) external view returns (address[] memory) {
        return _members[studyId].values();
    }

    /// @inheritdoc IStudyRegistry
    function getStudy(bytes32 studyId) external view returns (Study memory) {
        Study storage study = _studies[studyId];
        if (study.createdBlock == 0) revert UnknownStudy(studyId);
        return study;
    }

    /// @inheritdoc IStudyRegistry
    function studyExists(bytes32 studyId) external view returns (bool) {
        return _studies[studyId].createdBlock != 0;
    }

    /// @inheritdoc IStudyRegistry
    function declarePurpose(bytes32 studyId, uint64 purpose) external {
        _checkCoordinator(studyId);
        PurposeSlot storage slot = _purposes[studyId];
        if (slot.locked) revert StudyPurposeLocked(studyId);
        if (!DuoPurposes.isValidStudyPurpose(purpose)) revert InvalidStudyPurpose(purpose);
        _purposes[studyId] = PurposeSlot({purpose: purpose, locked: true});
        emit StudyPurposeDeclared(studyId, purpose);
    }

    /// @inheritdoc IStudyRegistry
    function studyPurpose(bytes32 studyId) external view returns (uint64) {
        return _purposes[studyId].purpose;
    }

    function _checkCoordinator(bytes32 studyId) private view {
        Study storage study = _studies[studyId];
        if (study.createdBlock == 0) revert UnknownStudy(studyId);
        if (study.coordinator != msg.sender) revert NotStudyCoordinator(studyId, msg.sender);
        if (!hasRole(COORDINATOR_ROLE, msg.sender)) revert CoordinatorLacksRole(studyId, msg.sender);
    }
}
