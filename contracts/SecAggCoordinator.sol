// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IRoundLedger} from "./interfaces/IRoundLedger.sol";
import {ISecAggCoordinator} from "./interfaces/ISecAggCoordinator.sol";
import {IStudyRegistry} from "./interfaces/IStudyRegistry.sol";

/**
 * @title SecAggCoordinator
 * @notice Coordinates privacy mode "secagg" beside the RoundLedger (which keeps recording the
 * masked updates' hashes, data roots and freshness exactly as in mode "sealed"): hospital keys
 * and mask-key deals (a history of epochs, each binding the rounds from its `fromRound` on), the
 * close of submissions, the survivors' reveals, aborts below threshold.
 */
contract SecAggCoordinator is ISecAggCoordinator {
    IStudyRegistry private immutable _studies;
    IRoundLedger private immutable _rounds;

    mapping(bytes32 study => uint32) private _threshold;
    mapping(bytes32 study => uint64) private _revealWindow;
    mapping(bytes32 study => mapping(address hospital => HospitalKeys[])) private _keys;
    mapping(bytes32 study => mapping(uint64 round => RoundPhase)) private _phases;
    mapping(bytes32 study => mapping(uint64 round => RevealRecord[])) private _reveals;
    mapping(bytes32 study => mapping(uint64 round => mapping(address hospital => bool))) private
        _revealed;
    mapping(bytes32 study => mapping(uint64 round => mapping(address hospital => bool))) private
        _survivor;

    /// @param studies The study registry (members, aggregator).
    /// @param rounds The round ledger (open rounds, who submitted).
    constructor(IStudyRegistry studies, IRoundLedger rounds) {
        _studies = studies;
        _rounds = rounds;
    }

    /// @inheritdoc ISecAggCoordinator
    function configure(bytes32 study, uint32 threshold_, uint64 revealWindow) external {
        _checkAggregator(study);
        if (_threshold[study] != 0) revert SecAggAlreadyConfigured(study);
        if (threshold_ < 2) revert InvalidThreshold(threshold_);
        _threshold[study] = threshold_;
        _revealWindow[study] = revealWindow;
        emit SecAggConfigured(study, threshold_, revealWindow);
    }

    /// @inheritdoc ISecAggCoordinator
    function registerKeys(bytes32 study, bytes32 maskKey, bytes32 sealKey) external {
        _checkMember(study);
        if (maskKey == bytes32(0) || sealKey == bytes32(0)) revert SecAggZeroValue();
        HospitalKeys[] storage history = _keys[study][msg.sender];
        uint256 n = history.length;
        if (n != 0 && history[n - 1].dealtBlock == 0) {
            history.pop(); // an undealt epoch bound no round: replaced in place
            n -= 1;
        }
        uint64 epoch = uint64(n);
        history.push(
            HospitalKeys({
                maskKey: maskKey,
                sealKey: sealKey,
                epoch: epoch,
                dealHash: bytes32(0),
                dealCid: "",
                dealtBlock: 0,
                burnedBlock: 0,
                fromRound: 0
            })
        );
        emit KeysRegistered(study, msg.sender, maskKey, sealKey, epoch);
    }

    /// @inheritdoc ISecAggCoordinator
    function dealKey(bytes32 study, bytes32 dealHash, string calldata dealCid) external {
        _checkMember(study);
        HospitalKeys[] storage history = _keys[study][msg.sender];
        if (history.length == 0) revert NoKeysRegistered(study, msg.sender);
        HospitalKeys storage k = history[history.length - 1];
        if (k.dealtBlock != 0) revert KeyAlreadyDealt(study, msg.sender, k.epoch);
        if (dealHash == bytes32(0)) revert SecAggZeroValue();
        k.dealHash = dealHash;
        k.dealCid = dealCid;
        k.dealtBlock = block.number;
        k.fromRound = _rounds.roundCount(study);
        emit KeyDealt(study, msg.sender, k.epoch, k.fromRound, dealHash, dealCid);
    }

    /// @inheritdoc ISecAggCoordinator
    function closeSubmissions(bytes32 study, uint64 round) external {
        _checkAggregator(study);
        if (_threshold[study] == 0) revert SecAggNotConfigured(study);
        IRoundLedger.Round memory r = _rounds.getRound(study, round);
        if (r.state != IRoundLedger.RoundState.Open) revert SecAggRoundNotOpen(study, round);
        RoundPhase storage p = _phases[study][round];
        if (p.closedBlock != 0) revert SubmissionsAlreadyClosed(study, round);
        p.closedBlock = block.number;
        p.submittedAtClose = r.updateCount;
        emit SubmissionsClosed(study, round, r.updateCount);
        address[] memory members = _studies.hospitals(study);
        for (uint256 i = 0; i < members.length; ++i) {
            if (_rounds.hasSubmitted(study, round, members[i])) {
                _survivor[study][round][members[i]] = true;
                continue;
            }
            (bool found, uint256 at) = _bindingEpoch(study, members[i], round);
            if (!found) continue;
            HospitalKeys storage k = _keys[study][members[i]][at];
            if (_onRoster(k, r.openedBlock)) {
                k.burnedBlock = block.number;
                emit KeyBurned(study, members[i], k.epoch, round);
            }
        }
    }

    /// @inheritdoc ISecAggCoordinator
    function reveal(bytes32 study, uint64 round, bytes32 revealHash, string calldata revealCid)
        external
    {
        _checkMember(study);
        RoundPhase storage p = _phases[study][round];
        if (p.closedBlock == 0) revert SubmissionsNotClosed(study, round);
        if (p.abortedBlock != 0) revert RoundAlreadyAborted(study, round);
        if (!_survivor[study][round][msg.sender]) revert NotASurvivor(study, round, msg.sender);
        if (_revealed[study][round][msg.sender]) revert AlreadyRevealed(study, round, msg.sender);
        if (revealHash == bytes32(0)) revert SecAggZeroValue();
        _revealed[study][round][msg.sender] = true;
        _reveals[study][round].push(
            RevealRecord({
                hospital: msg.sender,
                revealHash: revealHash,
                revealCid: revealCid,
                revealedBlock: block.number
            })
        );
        p.revealCount += 1;
        emit SharesRevealed(study, round, msg.sender, revealHash, revealCid);
    }

    /// @inheritdoc ISecAggCoordinator
    function abortRound(bytes32 study, uint64 round, bytes32 reason) external {
        _checkAggregator(study);
        RoundPhase storage p = _phases[study][round];
        if (p.closedBlock == 0) revert SubmissionsNotClosed(study, round);
        if (p.abortedBlock != 0) revert RoundAlreadyAborted(study, round);
        uint32 t = _threshold[study];
        uint32 count = p.submittedAtClose;
        if (count >= t) {
            count = p.revealCount;
            if (count >= t) revert ThresholdReached(study, round, count, t);
            uint256 until = p.closedBlock + _revealWindow[study];
            if (block.number <= until) revert RevealWindowOpen(study, round, until);
        }
        p.abortedBlock = block.number;
        p.abortReason = reason;
        emit SecAggRoundAborted(study, round, reason, count, t);
    }

    /// @inheritdoc ISecAggCoordinator
    function threshold(bytes32 study) external view returns (uint32) {
        return _threshold[study];
    }

    /// @inheritdoc ISecAggCoordinator
    function getKeys(bytes32 study, address hospital) external view returns (HospitalKeys memory k) {
        HospitalKeys[] storage history = _keys[study][hospital];
        if (history.length != 0) k = history[history.length - 1];
    }

    /// @inheritdoc ISecAggCoordinator
    function keysAt(bytes32 study, address hospital, uint64 round)
        external
        view
        returns (HospitalKeys memory k)
    {
        (bool found, uint256 at) = _bindingEpoch(study, hospital, round);
        if (found) k = _keys[study][hospital][at];
    }

    /// @inheritdoc ISecAggCoordinator
    function keyHistory(bytes32 study, address hospital)
        external
        view
        returns (HospitalKeys[] memory)
    {
        return _keys[study][hospital];
    }

    /// @inheritdoc ISecAggCoordinator
    function roster(bytes32 study, uint64 round) external view returns (address[] memory out) {
        uint256 opened = _rounds.getRound(study, round).openedBlock;
        address[] memory members = _studies.hospitals(study);
        out = new address[](members.length);
        uint256 n = 0;
        for (uint256 i = 0; i < members.length; ++i) {
            (bool found, uint256 at) = _bindingEpoch(study, members[i], round);
            if (!found || opened == 0) continue;
            HospitalKeys storage k = _keys[study][members[i]][at];
            if (k.dealtBlock < opened && (k.burnedBlock == 0 || k.burnedBlock > opened)) {
                out[n++] = members[i];
            }
        }
        assembly ("memory-safe") {
            mstore(out, n)
        }
    }

    /// @inheritdoc ISecAggCoordinator
    function getPhase(bytes32 study, uint64 round) external view returns (RoundPhase memory) {
        return _phases[study][round];
    }

    /// @inheritdoc ISecAggCoordinator
    function getReveals(bytes32 study, uint64 round) external view returns (RevealRecord[] memory) {
        return _reveals[study][round];
    }

    /// @dev The index of the latest dealt epoch with `fromRound` <= `round`. Epochs are dealt in
    /// order and `fromRound` never decreases, so the search walks back from the newest.
    function _bindingEpoch(bytes32 study, address hospital, uint64 round)
        private
        view
        returns (bool found, uint256 at)
    {
        HospitalKeys[] storage history = _keys[study][hospital];
        for (uint256 i = history.length; i > 0; --i) {
            HospitalKeys storage k = history[i - 1];
            if (k.dealtBlock != 0 && k.fromRound <= round) return (true, i - 1);
        }
        return (false, 0);
    }

    function _onRoster(HospitalKeys storage k, uint256 opened) private view returns (bool) {
        return k.dealtBlock != 0 && k.dealtBlock < opened && k.burnedBlock == 0;
    }

    function _checkMember(bytes32 study) private view {
        if (!_studies.studyExists(study)) revert SecAggUnknownStudy(study);
        if (!_studies.isMember(study, msg.sender)) revert SecAggNotMember(study, msg.sender);
    }

    function _checkAggregator(bytes32 study) private view {
        if (!_studies.studyExists(study)) revert SecAggUnknownStudy(study);
        if (_studies.getStudy(study).aggregator != msg.sender) {
            revert SecAggNotAggregator(study, msg.sender);
        }
    }
}
