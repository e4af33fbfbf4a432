// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/**
 * @title IPrivacyBudget
 * @notice The differential-privacy budget of dp-mode studies: per (study, hospital), the
 * cumulative Renyi-DP spent at each of the study's orders, in fixed point (1e-12 units).
 * A study's terms and caps are fixed once, by its coordinator; each hospital charges its RDP
 * increment for a round before it submits, and the RoundLedger refuses a dp-mode update whose
 * round was not charged. The contract only adds and compares: the RDP values come from an
 * accountant off chain, and the auditor recomputes them from the terms stored here.
 */
interface IPrivacyBudget {
    /**
     * @notice A study's DP terms, every real in fixed point (value * 1e12).
     * `caps[i]` = epsilon - log(1/delta) / (orders[i] - 1), floored at 0 and rounded down.
     * `level` 0: record-level DP-SGD; 1: client-level (noise added at aggregation).
     */
    struct Terms {
        uint256 epsilon;
        uint256 delta;
        uint256 noiseMultiplier;
        uint256 maxGradNorm;
        uint256 sampleRate;
        uint64 stepsPerRound;
        uint8 level;
        uint256[] orders;
        uint256[] caps;
        uint256 configuredBlock;
    }

    /// @notice `studyId` was never created in the study registry.
    error UnknownStudy(bytes32 studyId);
    /// @notice `caller` is not the coordinator of `studyId`.
    error NotCoordinator(bytes32 studyId, address caller);
    /// @notice `studyId`'s budget is already configured: its caps cannot change.
    error BudgetAlreadyConfigured(bytes32 studyId);
    /// @notice Terms with no orders, or a different number of caps than orders.
    error BadBudgetTerms(bytes32 studyId, uint256 orders, uint256 caps);
    /// @notice `studyId` has no privacy budget (it is not a dp-mode study).
    error NotDpStudy(bytes32 studyId);
    /// @notice `caller` is not a member hospital of `studyId`.
    error NotStudyMember(bytes32 studyId, address caller);
    /// @notice `hospital` already charged its increment for `round`.
    error AlreadyCharged(bytes32 studyId, uint64 round, address hospital);
    /// @notice An increment must have one value per order.
    error IncrementLengthMismatch(uint256 given, uint256 expected);
    /// @notice After this increment no order of `hospital`'s ledger would be under its cap.
    error BudgetExhausted(bytes32 studyId, uint64 round, address hospital);
    /// @notice A dp-mode update was submitted for a round the hospital has not charged.
    error BudgetNotCharged(bytes32 studyId, uint64 round, address hospital);

    /// @notice Emitted when a study's coordinator fixes its DP terms and caps.
    event BudgetConfigured(
        bytes32 indexed studyId, uint256 epsilon, uint256 delta, uint256[] orders, uint256[] caps
    );
    /// @notice Emitted when a hospital charges its RDP increment for a round.
    event BudgetCharged(
        bytes32 indexed studyId, uint64 indexed round, address indexed hospital, uint256[] increment
    );

    /**
     * @notice Fixes `study`'s DP terms and caps, once.
     * Requirements:
     * - the study exists and the caller is its coordinator;
     * - the study's budget is not configured yet;
     * - `terms.orders` is not empty and `terms.caps` has one cap per order.
     * Emits a {BudgetConfigured} event.
     */
    function configure(bytes32 study, Terms calldata terms) external;

    /**
     * @notice Adds the caller's RDP `increment` for `round` to its ledger.
     * Requirements:
     * - `study` is a dp-mode study and the caller one of its member hospitals;
     * - the caller has not charged `round` yet;
     * - `increment` has one value per order;
     * - after adding, at least one order's cumulative value is at or under its cap.
     * Emits a {BudgetCharged} event.
     */
    function charge(bytes32 study, uint64 round, uint256[] calldata increment) external;

    /**
     * @notice Reverts with {BudgetNotCharged} if `study` is a dp-mode study and `hospital` has
     * not charged `round`; returns for any other study (the RoundLedger's hook).
     */
    function requireCharged(bytes32 study, uint64 round, address hospital) external view;

    /// @notice Whether `study` has a privacy budget (is a dp-mode study).
    function isDpStudy(bytes32 study) external view returns (bool);

    /// @notice `study`'s terms (all zero if it is not a dp-mode study).
    function getTerms(bytes32 study) external view returns (Terms memory);

    /// @notice `hospital`'s cumulative RDP per order (empty if not a dp-mode study).
    function spent(bytes32 study, address hospital) external view returns (uint256[] memory);

    /// @notice What `hospital` charged for `round` (empty if it has not).
    function charged(bytes32 study, uint64 round, address hospital)
        external
        view
        returns (uint256[] memory);
}
