// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/**
 * @title IRoundLedger
 * @notice What was trained: each round's base and resulting model, every hospital's update and a
 * commitment (`dataRoot`) to the patients it trained on.
 */
interface IRoundLedger {
    /// @notice A round's lifecycle.
    enum RoundState {
        None,
        Open,
        Finalized
    }

    /// @notice A round's on-chain record.
    struct Round {
        bytes32 baseModelHash;
        string baseModelCid;
        bytes32 modelHash;
        string modelCid;
        string metricsCid;
        uint256 openedBlock;
        uint256 finalizedBlock;
        uint32 updateCount;
        RoundState state;
    }

    /// @notice One hospital's update in a round.
    struct Update {
        address hospital;
        bytes32 updateHash;
        string updateCid;
        uint64 numSamples;
        bytes32 dataRoot;
        uint64 consentBlock;
        uint256 submittedBlock;
    }

    /// @notice `studyId` was never created.
    error UnknownStudy(bytes32 studyId);
    /// @notice `caller` is not the aggregator of `studyId`.
    error NotAggregator(bytes32 studyId, address caller);
    /// @notice `caller` is not a member hospital of `studyId`.
    error NotStudyMember(bytes32 studyId, address caller);
    /// @notice Rounds open strictly in order: `expected` is the next round.
    error UnexpectedRound(bytes32 studyId, uint64 round, uint64 expected);
    /// @notice The previous round `round` is not finalized yet.
    error PreviousRoundNotFinalized(bytes32 studyId, uint64 round);
    /// @notice `round` is not open.
    error RoundNotOpen(bytes32 studyId, uint64 round);
    /// @notice `hospital` already submitted in `round`.
    error AlreadySubmitted(bytes32 studyId, uint64 round, address hospital);
    /// @notice `consentBlock` is older than the last revocation among the hospital's patients.
    error StaleConsent(uint64 consentBlock, uint256 lastRevocationBlock);
    /// @notice `consentBlock` is after the current block.
    error ConsentBlockInFuture(uint64 consentBlock, uint256 currentBlock);
    /// @notice `round` has `updateCount` updates, fewer than the study's `minUpdates`.
    error NotEnoughUpdates(bytes32 studyId, uint64 round, uint32 updateCount, uint32 minUpdates);
    /**
     * @notice The aggregator built its model from the first `considered` updates of `round`, but
     * `submitted` updates are on chain: an update landed after the aggregator read the round.
     * `considered` counts every update the aggregator read, accepted or rejected.
     */
    error AggregatedUpdatesMismatch(
        bytes32 studyId, uint64 round, uint32 considered, uint32 submitted
    );
    /// @notice A zero hash was given where an artifact hash is required.
    error ZeroHash();
    /// @notice An update must cover at least one sample.
    error ZeroSamples();

    /// @notice Emitted when the aggregator opens a round.
    event RoundOpened(
        bytes32 indexed studyId, uint64 indexed round, bytes32 baseModelHash, string baseModelCid
    );
    /// @notice Emitted when a hospital submits its update.
    event UpdateSubmitted(
        bytes32 indexed studyId,
        uint64 indexed round,
        address indexed hospital,
        bytes32 updateHash,
        string updateCid,
        uint64 numSamples,
        bytes32 dataRoot,
        uint64 consentBlock
    );
    /**
     * @notice Emitted when the aggregator finalizes a round. `updateCount` is the number of updates
     * the model was built from (the aggregator's `consideredUpdates`, equal to the round's count):
     * the first `updateCount` entries of {getUpdates}, which cannot change after finalization.
     */
    event RoundFinalized(
        bytes32 indexed studyId,
        uint64 indexed round,
        bytes32 modelHash,
        string modelCid,
        string metricsCid,
        uint32 updateCount
    );

    /**
     * @notice Opens round `round` of `study` on base model `baseModelHash`.
     * Requirements:
     * - the caller is the study's aggregator;
     * - `round` == roundCount(study) and, unless it is 0, round - 1 is finalized.
     * Emits a {RoundOpened} event.
     */
    function openRound(bytes32 study, uint64 round, bytes32 baseModelHash, string calldata baseModelCid)
        external;

    /**
     * @notice Records the calling hospital's update to open round `round`.
     * Requirements:
     * - the caller is a member hospital; the round is open; no earlier update from the caller;
     * - lastRevocationBlock(study, caller) <= `consentBlock` <= block.number;
     * - `updateHash` is not zero, `numSamples` > 0.
     * Emits an {UpdateSubmitted} event.
     */
    function submitUpdate(
        bytes32 study,
        uint64 round,
        bytes32 updateHash,
        string calldata updateCid,
        uint64 numSamples,
        bytes32 dataRoot,
        uint64 consentBlock
    ) external;

    /**
     * @notice Finalizes open round `round` with the aggregated model.
     * `consideredUpdates` is how many of the round's updates the aggregator read when it built the
     * model: updates are appended in submission order, so they are exactly the first
     * `consideredUpdates` entries of {getUpdates}. It counts every update read, including those
     * the aggregator rejected (the metrics artifact `metricsCid` lists which were aggregated and
     * which rejected, and why). An update that lands after the aggregator's read makes the
     * finalization revert, so no update is ever on chain in a round without having been
     * considered for its model.
     * Requirements:
     * - the caller is the study's aggregator; the round is open;
     * - the round has at least the study's `minUpdates` updates;
     * - `consideredUpdates` equals the round's current update count;
     * - `modelHash` is not zero.
     * Emits a {RoundFinalized} event.
     */
    function finalizeRound(
        bytes32 study,
        uint64 round,
        bytes32 modelHash,
        string calldata modelCid,
        string calldata metricsCid,
        uint32 consideredUpdates
    ) external;

    /// @notice The record of `round` (state None if never opened).
    function getRound(bytes32 study, uint64 round) external view returns (Round memory);

    /// @notice The updates submitted to `round`, in submission order.
    function getUpdates(bytes32 study, uint64 round) external view returns (Update[] memory);

    /// @notice Whether `hospital` submitted an update to `round`.
    function hasSubmitted(bytes32 study, uint64 round, address hospital) external view returns (bool);

    /// @notice The number of rounds opened in `study`.
    function roundCount(bytes32 study) external view returns (uint64);

    /**
     * @notice Whether `patient` at `index` is a leaf of the Merkle tree with root `root`.
     * Leaf: keccak256(bytes.concat(keccak256(abi.encode(index, patient)))), sorted-pair hashing.
     */
    function verifyDataLeaf(bytes32 root, uint256 index, address patient, bytes32[] calldata proof)
        external
        pure
        returns (bool);
}
