// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/**
 * @title IDatasetInventory
 * @notice The datasets hospitals offer to studies, with the anonymity scores of their dataset
 * cards, and each study's admission thresholds. No personal data: a card's hash, its CID and
 * numbers only.
 */
interface IDatasetInventory {
    /**
     * @notice A dataset card's scores as registered. Risks and t are in parts per million
     * (1_000_000 = 1.0); a risk is the upper bound of the attack's confidence interval.
     */
    struct Scores {
        uint32 k;
        uint32 l;
        uint32 tClosenessPpm;
        uint32 singlingOutRiskPpm;
        uint32 linkabilityRiskPpm;
        uint32 inferenceRiskPpm;
        uint64 rows;
        bool synthetic;
    }

    /// @notice A registered dataset: its owner, card CID, scores and registration block.
    struct Dataset {
        address hospital;
        string cardCid;
        Scores scores;
        uint256 registeredBlock;
    }

    /// @notice A study's admission thresholds; `maxRiskPpm` bounds each of the three risks.
    struct Thresholds {
        uint32 minK;
        uint32 minL;
        uint32 maxTClosenessPpm;
        uint32 maxRiskPpm;
        bool allowSynthetic;
    }

    /// @notice A dataset with card hash `cardHash` is already registered.
    error DatasetAlreadyRegistered(bytes32 cardHash);
    /// @notice No dataset with card hash `cardHash` is registered.
    error UnknownDataset(bytes32 cardHash);
    /// @notice `caller` does not own dataset `cardHash`.
    error NotDatasetOwner(bytes32 cardHash, address caller);
    /// @notice The card hash is zero, its CID empty, or a score out of range.
    error InvalidDatasetCard(bytes32 cardHash);
    /// @notice The thresholds are out of range (minK and minL at least 1, ppm at most 1e6).
    error InvalidThresholds(bytes32 studyId);
    /// @notice `studyId` already declared its admission thresholds (they never change).
    error ThresholdsAlreadySet(bytes32 studyId);
    /// @notice `hospital` offered no dataset to `studyId`, which declared thresholds.
    error NoDatasetOffered(bytes32 studyId, address hospital);
    /**
     * @notice `hospital`'s dataset `cardHash` fails `studyId`'s thresholds on `criterion`
     * ("k", "l", "t", "singling-out", "linkability", "inference" or "synthetic").
     */
    error DatasetBelowThreshold(bytes32 studyId, address hospital, bytes32 cardHash, string criterion);

    /// @notice Emitted when a hospital registers a dataset card.
    event DatasetRegistered(
        bytes32 indexed cardHash,
        address indexed hospital,
        string cardCid,
        Scores scores
    );
    /// @notice Emitted when a study's coordinator declares its admission thresholds.
    event ThresholdsSet(bytes32 indexed studyId, Thresholds thresholds);
    /// @notice Emitted when a hospital offers one of its datasets to a study.
    event DatasetOffered(bytes32 indexed studyId, address indexed hospital, bytes32 indexed cardHash);

    /**
     * @notice Registers the caller's dataset card (hash of the card's exact bytes, its CID, its
     * scores); the caller becomes its owner.
     * Requirements:
     * - `cardHash` is not zero and not registered, `cardCid` is not empty;
     * - k >= 1, l >= 1 when k >= 1, t and the risks at most 1_000_000 ppm, rows >= k.
     * Emits a {DatasetRegistered} event.
     */
    function registerDataset(bytes32 cardHash, string calldata cardCid, Scores calldata scores)
        external;

    /**
     * @notice Declares `studyId`'s admission thresholds, once.
     * Requirements:
     * - `studyId` exists (else the StudyRegistry's `UnknownStudy`) and the caller is its
     *   coordinator (else `NotStudyCoordinator`);
     * - no thresholds were declared for it; minK >= 1, minL >= 1, ppm values at most 1_000_000.
     * Emits a {ThresholdsSet} event.
     */
    function setThresholds(bytes32 studyId, Thresholds calldata thresholds) external;

    /**
     * @notice Offers the caller's dataset `cardHash` to `studyId` (replacing an earlier offer).
     * Requirements:
     * - `studyId` exists; the caller owns `cardHash`;
     * - if the study declared thresholds, the dataset meets them.
     * Emits a {DatasetOffered} event.
     */
    function offerDataset(bytes32 studyId, bytes32 cardHash) external;

    /**
     * @notice Reverts unless `hospital` may join `studyId`: a study without thresholds admits
     * anyone; otherwise the hospital's offered dataset must meet every threshold.
     * Reverts with {NoDatasetOffered} or {DatasetBelowThreshold}.
     */
    function checkAdmission(bytes32 studyId, address hospital) external view;

    /// @notice Whether `checkAdmission(studyId, hospital)` would pass.
    function admissible(bytes32 studyId, address hospital) external view returns (bool);

    /// @notice The dataset registered under `cardHash`. Requirements: it exists.
    function getDataset(bytes32 cardHash) external view returns (Dataset memory);

    /// @notice Every registered card hash, in registration order.
    function datasets() external view returns (bytes32[] memory);

    /// @notice The card hash `hospital` offered to `studyId` (zero if none).
    function offeredDataset(bytes32 studyId, address hospital) external view returns (bytes32);

    /// @notice The studies `cardHash` is currently offered to.
    function studiesOf(bytes32 cardHash) external view returns (bytes32[] memory);

    /// @notice `studyId`'s thresholds and whether it declared any.
    function thresholds(bytes32 studyId) external view returns (Thresholds memory, bool);
}
