// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/**
 * @title IContributions
 * @notice A compact on-chain record of how each finalized round judged its updates (issue 15):
 * a digest of the round's decisions and contribution values (the SHA-256 of their canonical JSON,
 * `consent.formats.round_metrics.judgement_digest`, so the metrics artifact can be checked against
 * it), and each hospital's contribution value per round, summed per (study, hospital) into a
 * cumulative value a reward can be paid on ({cumulativeValue}).
 *
 * Values are fixed-point with 18 decimals ({VALUE_SCALE}) and signed: a hospital whose update
 * hurt the model has a negative value.
 */
interface IContributions {
    /// @notice A round's record: the judgement digest and the block it was recorded in.
    struct RoundContributions {
        bytes32 judgementHash;
        uint256 recordedBlock;
        uint32 valueCount;
    }

    /// @notice `studyId` was never created.
    error UnknownStudy(bytes32 studyId);
    /// @notice `caller` is not the aggregator of `studyId`.
    error NotAggregator(bytes32 studyId, address caller);
    /// @notice `round` of `studyId` is not finalized in the round ledger.
    error RoundNotFinalized(bytes32 studyId, uint64 round);
    /// @notice `round` of `studyId` already has its contributions recorded.
    error ContributionsAlreadyRecorded(bytes32 studyId, uint64 round);
    /// @notice `hospitals` and `values` differ in length.
    error ValueCountMismatch(uint256 hospitals, uint256 values);
    /// @notice Hospitals must be listed in strictly ascending address order (no duplicates).
    error HospitalsNotSorted(uint256 index);
    /// @notice `hospital` submitted no update in `round`, so it has no value there.
    error NotARoundParticipant(bytes32 studyId, uint64 round, address hospital);
    /// @notice A zero hash was given where the judgement digest is required.
    error ZeroJudgementHash();

    /**
     * @notice Emitted when the aggregator records a finalized round's judgement and values.
     * `values[i]` is `hospitals[i]`'s value in the round (scaled by {VALUE_SCALE}).
     */
    event ContributionsRecorded(
        bytes32 indexed studyId,
        uint64 indexed round,
        bytes32 judgementHash,
        address[] hospitals,
        int256[] values
    );

    /**
     * @notice Record finalized `round`'s judgement digest and each hospital's value, adding the
     * values to the hospitals' cumulative values.
     *
     * Requirements:
     * - `studyId` exists and the caller is its aggregator.
     * - `round` is finalized in the round ledger and not recorded yet.
     * - `judgementHash` is not zero.
     * - `hospitals` and `values` have the same length; `hospitals` strictly ascending, each of
     *   them a hospital that submitted an update in `round`.
     *
     * Emits a {ContributionsRecorded} event.
     */
    function recordRound(
        bytes32 studyId,
        uint64 round,
        bytes32 judgementHash,
        address[] calldata hospitals,
        int256[] calldata values
    ) external;

    /// @notice The fixed-point scale of values (1e18).
    function VALUE_SCALE() external view returns (int256);

    /// @notice `hospital`'s contribution values in `studyId`, summed over the recorded rounds.
    function cumulativeValue(bytes32 studyId, address hospital) external view returns (int256);

    /// @notice `round`'s record (all zero if not recorded).
    function getRound(bytes32 studyId, uint64 round)
        external
        view
        returns (RoundContributions memory);

    /// @notice `hospital`'s value in `round` (zero if none was recorded).
    function roundValue(bytes32 studyId, uint64 round, address hospital)
        external
        view
        returns (int256);
}
