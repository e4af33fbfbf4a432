// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IContributions} from "./interfaces/IContributions.sol";
import {IRoundLedger} from "./interfaces/IRoundLedger.sol";
import {IStudyRegistry} from "./interfaces/IStudyRegistry.sol";

/**
 * @title Contributions
 * @notice Each finalized round's judgement digest and contribution values, and every hospital's
 * cumulative value per study, so a reward can be paid from the chain. Only the study's
 * aggregator records, once per finalized round, and only for hospitals that submitted in it.
 */
contract Contributions is IContributions {
    /// @inheritdoc IContributions
    int256 public constant VALUE_SCALE = 1e18;

    IStudyRegistry private immutable _studies;
    IRoundLedger private immutable _rounds;

    mapping(bytes32 study => mapping(uint64 round => RoundContributions)) private _records;
    mapping(bytes32 study => mapping(uint64 round => mapping(address hospital => int256))) private
        _roundValues;
    mapping(bytes32 study => mapping(address hospital => int256)) private _cumulative;

    /// @param studies The study registry (aggregator of each study).
    /// @param rounds The round ledger (finalized rounds and their participants).
    constructor(IStudyRegistry studies, IRoundLedger rounds) {
        _studies = studies;
        _rounds = rounds;
    }

    /// @inheritdoc IContributions
    function recordRound(
        bytes32 study,
        uint64 round,
        bytes32 judgementHash,
        address[] calldata hospitals,
        int256[] calldata values
    ) external {
        if (!_studies.studyExists(study)) revert UnknownStudy(study);
        if (_studies.getStudy(study).aggregator != msg.sender) revert NotAggregator(study, msg.sender);
        if (_rounds.getRound(study, round).state != IRoundLedger.RoundState.Finalized) {
            revert RoundNotFinalized(study, round);
        }
        RoundContributions storage r = _records[study][round];
        if (r.recordedBlock != 0) revert ContributionsAlreadyRecorded(study, round);
        if (judgementHash == bytes32(0)) revert ZeroJudgementHash();
        if (hospitals.length != values.length) revert ValueCountMismatch(hospitals.length, values.length);
        for (uint256 i = 0; i < hospitals.length; ++i) {
            if (i > 0 && hospitals[i] <= hospitals[i - 1]) revert HospitalsNotSorted(i);
            if (!_rounds.hasSubmitted(study, round, hospitals[i])) {
                revert NotARoundParticipant(study, round, hospitals[i]);
            }
            _roundValues[study][round][hospitals[i]] = values[i];
            _cumulative[study][hospitals[i]] += values[i];
        }
        r.judgementHash = judgementHash;
        r.recordedBlock = block.number;
        r.valueCount = uint32(hospitals.length);
        emit ContributionsRecorded(study, round, judgementHash, hospitals, values);
    }

    /// @inheritdoc IContributions
    function cumulativeValue(bytes32 study, address hospital) external view returns (int256) {
        return _cumulative[study][hospital];
    }

    /// @inheritdoc IContributions
    function getRound(bytes32 study, uint64 round)
        external
        view
        returns (RoundContributions memory)
    {
        return _records[study][round];
    }

    /// @inheritdoc IContributions
    function roundValue(bytes32 study, uint64 round, address hospital)
        external
        view
        returns (int256)
    {
        return _roundValues[study][round][hospital];
    }
}
