// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/**
 * @title IRoundLedger
 * @notice What was trained: each round's base and resulting model, every hospital's update and a
 * commitment (`dataRoot`) to the patients it trained on, with their number (`numPatients`),
 * bounded by the hospital's active consents.
 *
 * `dataRoot` is the root of a sparse Merkle tree keyed by patient address (depth 160, the
 * address bits from the most significant; `consent.smt` in Python builds it). Empty subtree:
 * bytes32(0); a subtree holding one patient `p` collapses to its leaf
 * `keccak256(abi.encodePacked(bytes1(0x00), p))`; any other node is
 * `keccak256(abi.encodePacked(bytes1(0x01), left, right))`. A proof for `p` is the node met at
 * `depth` on `p`'s path (p's leaf, an empty subtree, or another patient's leaf sharing p's first
 * `depth` bits) and the siblings from there up to the root: bit `j` of `bitmap` says whether the
 * sibling at depth `j + 1` is non-empty; only non-empty siblings are listed, deepest first.
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

    /**
     * @notice A round with its updates and the study's round count, as one view returns them
     * ({getRoundWithUpdates}, {getLatestRound}): one call where a reader made three.
     */
    struct RoundView {
        uint64 roundCount;
        uint64 round;
        Round record;
        Update[] updates;
    }

    /// @notice One hospital's update in a round.
    struct Update {
        address hospital;
        bytes32 updateHash;
        string updateCid;
        uint64 numSamples;
        uint32 numPatients;
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
    /// @notice `consentBlock` is not before the current block (no trainer could have seen it).
    error ConsentBlockInFuture(uint64 consentBlock, uint256 currentBlock);
    /// @notice `consentBlock` is before the block that opened the round.
    error ConsentBlockBeforeRound(uint64 consentBlock, uint256 openedBlock);
    /**
     * @notice `numPatients` is zero or more than the hospital's `activeConsents`
     * ({IConsentRegistry-activeConsentCount}).
     */
    error InvalidPatientCount(uint32 numPatients, uint256 activeConsents);
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
        uint32 numPatients,
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
     * @notice Records the calling hospital's update to open round `round`. `numPatients` is the
     * number of distinct patients under `dataRoot`, and the weight the aggregator gives the
     * update (FedAvg by patients: the only count the contract can bound); `numSamples` is the
     * number of rows trained on, informative only.
     * Requirements:
     * - the caller is a member hospital; the round is open; no earlier update from the caller;
     * - lastRevocationBlock(study, caller) <= `consentBlock`;
     * - the round's opened block <= `consentBlock` < block.number (a consent view the trainer
     *   could have read, taken after the round opened);
     * - 0 < `numPatients` <= activeConsentCount(study, caller);
     * - `updateHash` and `dataRoot` are not zero, `numSamples` > 0;
     * - in a dp-mode study, the caller charged `round` in the PrivacyBudget (else it reverts
     *   with IPrivacyBudget.BudgetNotCharged).
     * Emits an {UpdateSubmitted} event.
     */
    function submitUpdate(
        bytes32 study,
        uint64 round,
        bytes32 updateHash,
        string calldata updateCid,
        uint64 numSamples,
        uint32 numPatients,
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

    /**
     * @notice Finalizes open round `round` exactly as {finalizeRound} does, then opens round
     * `round + 1` on the model just recorded (`modelHash`, `modelCid`) exactly as {openRound}
     * would: one transaction where the aggregator of a continuing study sent two.
     * Requirements: those of {finalizeRound} (the caller is the study's aggregator; the round is
     * open; it has at least `minUpdates` updates; `consideredUpdates` equals its update count;
     * `modelHash` is not zero); the opening of `round + 1` then holds by construction.
     * Emits a {RoundFinalized} event for `round`, then a {RoundOpened} event for `round + 1`.
     */
    function finalizeAndOpenRound(
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

    /// @notice `round`'s record with its updates and the study's round count, in one call.
    function getRoundWithUpdates(bytes32 study, uint64 round)
        external
        view
        returns (RoundView memory);

    /**
     * @notice The latest round (number `roundCount - 1`) with its updates and the round count;
     * a study with no round yet gives `roundCount` 0 and an empty record (state None).
     */
    function getLatestRound(bytes32 study) external view returns (RoundView memory);

    /// @notice The number of rounds opened in `study`.
    function roundCount(bytes32 study) external view returns (uint64);

    /**
     * @notice Whether the proof shows `patient` under `root` (see the contract notice for the
     * tree and proof layout).
     */
    function verifyDataMembership(
        bytes32 root,
        address patient,
        uint8 depth,
        uint256 bitmap,
        bytes32[] calldata siblings
    ) external pure returns (bool);

    /**
     * @notice Whether the proof shows `patient` absent from `root`: the node at `depth` on its
     * path is empty (`occupant` zero) or the leaf of `occupant`, another patient sharing the
     * first `depth` bits.
     */
    function verifyDataNonMembership(
        bytes32 root,
        address patient,
        address occupant,
        uint8 depth,
        uint256 bitmap,
        bytes32[] calldata siblings
    ) external pure returns (bool);
}
