// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IConsentRegistry} from "./interfaces/IConsentRegistry.sol";
import {IRollbacks} from "./interfaces/IRollbacks.sol";
import {IRoundLedger} from "./interfaces/IRoundLedger.sol";
import {IStudyRegistry} from "./interfaces/IStudyRegistry.sol";

/**
 * @title Rollbacks
 * @notice Rollback rounds of `unlearn` studies, beside the round ledger (see {IRollbacks}). Only
 * the study's aggregator records, once per open round, with a base in the study's history (whose
 * base model is the one the round was opened on when every shard rolls back), naming the shards
 * it retrains, serving revocations that are on chain.
 */
contract Rollbacks is IRollbacks {
    IStudyRegistry private immutable _studies;
    IConsentRegistry private immutable _consents;
    IRoundLedger private immutable _rounds;

    mapping(bytes32 study => mapping(uint64 round => Rollback)) private _records;
    mapping(bytes32 study => uint64[]) private _rollbackRounds;
    mapping(bytes32 study => uint16) private _shards;

    /// @param studies The study registry (aggregator of each study).
    /// @param consents The consent registry (who revoked).
    /// @param rounds The round ledger (rounds and their base models).
    constructor(IStudyRegistry studies, IConsentRegistry consents, IRoundLedger rounds) {
        _studies = studies;
        _consents = consents;
        _rounds = rounds;
    }

    /// @inheritdoc IRollbacks
    function recordRollback(
        bytes32 study,
        uint64 round,
        uint64 baseRound,
        uint16 shards,
        uint256 shardMask,
        string calldata reason,
        address[] calldata patients
    ) external {
        if (!_studies.studyExists(study)) revert UnknownStudy(study);
        if (_studies.getStudy(study).aggregator != msg.sender) revert NotAggregator(study, msg.sender);
        IRoundLedger.Round memory opened = _rounds.getRound(study, round);
        if (opened.state != IRoundLedger.RoundState.Open) revert RoundNotOpen(study, round);
        Rollback storage r = _records[study][round];
        if (r.recordedBlock != 0) revert RollbackAlreadyRecorded(study, round);
        if (baseRound >= round) revert BaseOutsideHistory(study, round, baseRound);
        _checkShards(study, shards, shardMask);
        uint256 all = shards == 256 ? type(uint256).max : (uint256(1) << shards) - 1;
        bool everyShard = shardMask == all;
        if (everyShard && _rounds.getRound(study, baseRound).baseModelHash != opened.baseModelHash) {
            revert BaseModelMismatch(study, round, baseRound);
        }
        if (patients.length == 0) revert NoRevocationsServed();
        for (uint256 i = 0; i < patients.length; ++i) {
            if (_consents.consentRecord(study, patients[i]).revokedBlock == 0) {
                revert PatientNotRevoked(study, patients[i], i);
            }
        }
        r.baseRound = baseRound;
        r.recordedBlock = uint64(block.number);
        r.shards = shards;
        r.shardMask = shardMask;
        r.reason = reason;
        r.patients = patients;
        _rollbackRounds[study].push(round);
        _shards[study] = shards;
        emit RollbackRecorded(study, round, baseRound, shards, shardMask, reason, patients);
    }

    /// @dev The shard count is 1 to 256 and the study's; the mask names shards below it.
    function _checkShards(bytes32 study, uint16 shards, uint256 shardMask) private view {
        if (shards == 0 || shards > 256) revert ShardCountOutOfRange(shards);
        uint16 recorded = _shards[study];
        if (recorded != 0 && recorded != shards) revert ShardCountChanged(study, recorded, shards);
        if (shardMask == 0 || (shards < 256 && shardMask >> shards != 0)) {
            revert ShardMaskOutOfRange(shardMask, shards);
        }
    }

    /// @inheritdoc IRollbacks
    function getRollback(bytes32 study, uint64 round) external view returns (Rollback memory) {
        return _records[study][round];
    }

    /// @inheritdoc IRollbacks
    function rollbackRounds(bytes32 study) external view returns (uint64[] memory) {
        return _rollbackRounds[study];
    }
}
