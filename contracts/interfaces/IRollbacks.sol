// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/**
 * @title IRollbacks
 * @notice Rollback rounds of studies whose revocation policy is `unlearn` (issue 16). A rollback
 * round is an ordinary round of the {IRoundLedger} whose base is not the previous round's model
 * but an older checkpoint: the base model of round `baseRound` (round 0's base is the initial
 * model), so `baseRound` and every round after it drop out of the lineage of the rollback
 * round's model. The record says why (`reason`) and which revoked patients it serves.
 *
 * The lineage of round `r`'s model: if `r` is a rollback round with base round `b`, the lineage
 * of `b`'s base followed by `r`; otherwise the lineage of `r - 1`'s model followed by `r`
 * (round 0: the initial model, then 0).
 *
 * SISA shards (the plan's `revocation.shards` = S > 1): the round's model is a bundle of S
 * isolated sub-models, and a rollback names the shards it retrains (`shardMask`, bit `s` for
 * shard `s`). Only those restart from `baseRound`'s base; the other shards' sub-models are
 * carried from the previous round's model, so the opened base is a composition whose hash the
 * contract cannot recompute: it checks the base model hash when every shard rolls back, and the
 * audit (`chain.audit.lineage`) checks the composition of a partial one against both bundles.
 * The shard count is fixed by the study's first rollback.
 */
interface IRollbacks {
    /// @notice A rollback round's record (`recordedBlock` 0: the round is not a rollback).
    struct Rollback {
        uint64 baseRound;
        uint64 recordedBlock;
        uint16 shards;
        uint256 shardMask;
        string reason;
        address[] patients;
    }

    /// @notice `studyId` was never created.
    error UnknownStudy(bytes32 studyId);
    /// @notice `caller` is not the aggregator of `studyId`.
    error NotAggregator(bytes32 studyId, address caller);
    /// @notice `round` is not open.
    error RoundNotOpen(bytes32 studyId, uint64 round);
    /// @notice `baseRound` is not an earlier round of the study's history than `round`.
    error BaseOutsideHistory(bytes32 studyId, uint64 round, uint64 baseRound);
    /// @notice `round` was not opened on the base model of `baseRound`.
    error BaseModelMismatch(bytes32 studyId, uint64 round, uint64 baseRound);
    /// @notice `round` is already recorded as a rollback.
    error RollbackAlreadyRecorded(bytes32 studyId, uint64 round);
    /// @notice A rollback serves at least one revocation.
    error NoRevocationsServed();
    /// @notice `patient` (at position `index`) has not revoked consent in `studyId`.
    error PatientNotRevoked(bytes32 studyId, address patient, uint256 index);
    /// @notice `shards` is not a shard count (1 to 256).
    error ShardCountOutOfRange(uint16 shards);
    /// @notice `shardMask` names no shard, or a shard at or past `shards`.
    error ShardMaskOutOfRange(uint256 shardMask, uint16 shards);
    /// @notice The study's earlier rollbacks were recorded with `recorded` shards, not `given`.
    error ShardCountChanged(bytes32 studyId, uint16 recorded, uint16 given);

    /// @notice Emitted when the aggregator records `round` as a rollback to `baseRound`'s base.
    event RollbackRecorded(
        bytes32 indexed studyId,
        uint64 indexed round,
        uint64 baseRound,
        uint16 shards,
        uint256 shardMask,
        string reason,
        address[] patients
    );

    /**
     * @notice Records open round `round` of `study` as a rollback round whose shards in
     * `shardMask` (of `shards`) restart from the base model of `baseRound`, serving the
     * revocations of `patients`.
     * Requirements:
     * - the study exists and the caller is its aggregator;
     * - `round` is open in the round ledger and not recorded yet;
     * - `baseRound` < `round` (a base in the history of every shard: each shard has a
     *   checkpoint at every round's base);
     * - 1 <= `shards` <= 256, the same as in the study's earlier rollbacks, and `shardMask` is
     *   not 0 and names no shard at or past `shards`;
     * - when `shardMask` names every shard, `round`'s base model hash equals `baseRound`'s
     *   base model hash;
     * - `patients` is not empty and each has revoked consent in `study`.
     * Emits a {RollbackRecorded} event.
     */
    function recordRollback(
        bytes32 study,
        uint64 round,
        uint64 baseRound,
        uint16 shards,
        uint256 shardMask,
        string calldata reason,
        address[] calldata patients
    ) external;

    /// @notice The rollback record of `round` (`recordedBlock` 0 if it is not a rollback).
    function getRollback(bytes32 study, uint64 round) external view returns (Rollback memory);

    /// @notice The study's rollback rounds, in the order they were recorded.
    function rollbackRounds(bytes32 study) external view returns (uint64[] memory);
}
