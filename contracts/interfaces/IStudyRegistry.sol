// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IDatasetInventory} from "./IDatasetInventory.sol";

/**
 * @title IStudyRegistry
 * @notice Which studies exist, who coordinates and aggregates each, and which hospitals take part.
 */
interface IStudyRegistry {
    /// @notice A study's on-chain description. No personal data.
    struct Study {
        address coordinator;
        address aggregator;
        bytes32 aggregatorSealKey;
        uint32 minUpdates;
        string metadataCid;
        uint256 createdBlock;
    }

    /// @notice `studyId` was already created.
    error StudyAlreadyExists(bytes32 studyId);
    /// @notice `studyId` was never created.
    error UnknownStudy(bytes32 studyId);
    /// @notice `caller` is not the coordinator of `studyId`.
    error NotStudyCoordinator(bytes32 studyId, address caller);
    /// @notice `hospital` is already a member of `studyId`.
    error HospitalAlreadyMember(bytes32 studyId, address hospital);
    /// @notice `hospital` is not a member of `studyId`.
    error HospitalNotMember(bytes32 studyId, address hospital);
    /// @notice The zero address was given where an account is required.
    error ZeroAddress();
    /// @notice A study needs at least one update per round.
    error InvalidMinUpdates(uint32 minUpdates);
    /// @notice `account` does not hold COORDINATOR_ROLE (revoked, or never granted).
    error CoordinatorLacksRole(bytes32 studyId, address account);

    // --- study purpose (consent scopes) ---
    /// @notice `purpose` is not one DUO purpose bit (GRU, HMB or DS-<disease>), maybe with METHODS.
    error InvalidStudyPurpose(uint64 purpose);
    /// @notice `studyId`'s purpose was declared already, or a hospital was admitted: it is fixed.
    error StudyPurposeLocked(bytes32 studyId);
    // --- dataset inventory (admission gate) ---
    /// @notice The dataset inventory was already set (to `inventory`); it is set once.
    error DatasetInventoryAlreadySet(address inventory);

    /// @notice Emitted when a study is created.
    event StudyCreated(
        bytes32 indexed studyId,
        address indexed coordinator,
        address indexed aggregator,
        bytes32 aggregatorSealKey,
        uint32 minUpdates,
        string metadataCid
    );
    /// @notice Emitted when a hospital joins a study.
    event HospitalAdded(bytes32 indexed studyId, address indexed hospital);
    /// @notice Emitted when a hospital leaves a study.
    event HospitalRemoved(bytes32 indexed studyId, address indexed hospital);
    /// @notice Emitted when the admin hands a study to another coordinator.
    event CoordinatorChanged(
        bytes32 indexed studyId, address indexed previous, address indexed coordinator
    );
    /// @notice Emitted when the admin sets the dataset inventory that gates admission.
    event DatasetInventorySet(address indexed inventory);

    /// @notice Emitted when the coordinator declares the study's research purpose.
    event StudyPurposeDeclared(bytes32 indexed studyId, uint64 purpose);

    /**
     * @notice Creates a study; the caller becomes its coordinator.
     * Requirements:
     * - the caller has COORDINATOR_ROLE;
     * - `studyId` is new, `aggregator` is not zero, `minUpdates` > 0.
     * Emits a {StudyCreated} event.
     */
    function createStudy(
        bytes32 studyId,
        address aggregator,
        bytes32 aggregatorSealKey,
        uint32 minUpdates,
        string calldata metadataCid
    ) external;

    /**
     * @notice The admin hands `studyId` to `coordinator` (e.g. after revoking the old one's role).
     * Requirements:
     * - the caller has DEFAULT_ADMIN_ROLE; the study exists;
     * - `coordinator` is not zero and holds COORDINATOR_ROLE.
     * Emits a {CoordinatorChanged} event.
     */
    function setCoordinator(bytes32 studyId, address coordinator) external;

    /**
     * @notice Admits `hospital` to `studyId`.
     * Requirements: the caller is the study's coordinator and still holds COORDINATOR_ROLE;
     * `hospital` is not zero and not a member;
     * once a dataset inventory is set, its `checkAdmission(studyId, hospital)` passes (else its
     * `NoDatasetOffered` or `DatasetBelowThreshold` error).
     * Locks the study's purpose ({declarePurpose} reverts from now on).
     * Emits a {HospitalAdded} event.
     */
    function addHospital(bytes32 studyId, address hospital) external;

    /**
     * @notice Sets the dataset inventory whose `checkAdmission` gates {addHospital}, once.
     * Requirements: the caller has DEFAULT_ADMIN_ROLE; no inventory is set; `inventory` is not zero.
     * Emits a {DatasetInventorySet} event.
     */
    function setDatasetInventory(IDatasetInventory inventory) external;

    /// @notice The dataset inventory gating admission (zero until set).
    function datasetInventory() external view returns (address);

    /**
     * @notice Removes `hospital` from `studyId`.
     * Requirements: the caller is the study's coordinator and still holds COORDINATOR_ROLE;
     * `hospital` is a member.
     * Emits a {HospitalRemoved} event.
     */
    function removeHospital(bytes32 studyId, address hospital) external;

    /// @notice Whether `hospital` is currently a member of `studyId`.
    function isMember(bytes32 studyId, address hospital) external view returns (bool);

    /// @notice The current member hospitals of `studyId` (unordered).
    function hospitals(bytes32 studyId) external view returns (address[] memory);

    /// @notice The study record. Requirements: the study exists.
    function getStudy(bytes32 studyId) external view returns (Study memory);

    /// @notice Whether `studyId` was created.
    function studyExists(bytes32 studyId) external view returns (bool);

    /**
     * @notice Declares the research purpose of `studyId` as a DUO bitmask (layout in
     * {DuoPurposes}); consents count for the study only if their purposes cover it. Declared
     * once, before the first hospital is admitted, so no recorded consent was counted against
     * another purpose.
     * Requirements:
     * - the caller is the study's coordinator and still holds COORDINATOR_ROLE;
     * - no purpose was declared and no hospital was ever admitted to `studyId`;
     * - `purpose` sets exactly one of GRU, HMB, DS-<disease>, and otherwise only METHODS.
     * Emits a {StudyPurposeDeclared} event.
     */
    function declarePurpose(bytes32 studyId, uint64 purpose) external;

    /// @notice The declared purpose of `studyId` (0: none declared; every consent covers it).
    function studyPurpose(bytes32 studyId) external view returns (uint64);
}
