// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {EnumerableSet} from "@openzeppelin/contracts/utils/structs/EnumerableSet.sol";
import {IDatasetInventory} from "./interfaces/IDatasetInventory.sol";
import {IStudyRegistry} from "./interfaces/IStudyRegistry.sol";

/**
 * @title DatasetInventory
 * @notice Hospitals register dataset cards (hash, CID, anonymity scores); study coordinators
 * declare admission thresholds; the StudyRegistry asks `checkAdmission` before admitting a
 * hospital. The card's bytes live in the artifact store: the auditor rechecks them against the
 * scores registered here.
 */
contract DatasetInventory is IDatasetInventory {
    using EnumerableSet for EnumerableSet.Bytes32Set;

    uint32 private constant _PPM = 1_000_000;

    IStudyRegistry private immutable _studies;
    mapping(bytes32 cardHash => Dataset) private _datasets;
    bytes32[] private _cardHashes;
    mapping(bytes32 studyId => Thresholds) private _thresholds;
    mapping(bytes32 studyId => bool) private _hasThresholds;
    mapping(bytes32 studyId => mapping(address hospital => bytes32)) private _offers;
    mapping(bytes32 cardHash => EnumerableSet.Bytes32Set) private _studiesOf;

    /// @notice An inventory over the studies of `studies`.
    constructor(IStudyRegistry studies) {
        _studies = studies;
    }

    /// @inheritdoc IDatasetInventory
    function registerDataset(bytes32 cardHash, string calldata cardCid, Scores calldata scores)
        external
    {
        if (_datasets[cardHash].hospital != address(0)) revert DatasetAlreadyRegistered(cardHash);
        if (cardHash == bytes32(0) || bytes(cardCid).length == 0 || !_validScores(scores)) {
            revert InvalidDatasetCard(cardHash);
        }
        _datasets[cardHash] = Dataset({
            hospital: msg.sender, cardCid: cardCid, scores: scores, registeredBlock: block.number
        });
        _cardHashes.push(cardHash);
        emit DatasetRegistered(cardHash, msg.sender, cardCid, scores);
    }

    /// @inheritdoc IDatasetInventory
    function setThresholds(bytes32 studyId, Thresholds calldata limits) external {
        IStudyRegistry.Study memory study = _studies.getStudy(studyId);
        if (study.coordinator != msg.sender) {
            revert IStudyRegistry.NotStudyCoordinator(studyId, msg.sender);
        }
        if (_hasThresholds[studyId]) revert ThresholdsAlreadySet(studyId);
        if (
            limits.minK == 0 || limits.minL == 0 || limits.maxTClosenessPpm > _PPM
                || limits.maxRiskPpm > _PPM
        ) revert InvalidThresholds(studyId);
        _thresholds[studyId] = limits;
        _hasThresholds[studyId] = true;
        emit ThresholdsSet(studyId, limits);
    }

    /// @inheritdoc IDatasetInventory
    function offerDataset(bytes32 studyId, bytes32 cardHash) external {
        if (!_studies.studyExists(studyId)) revert IStudyRegistry.UnknownStudy(studyId);
        Dataset storage dataset = _datasets[cardHash];
        if (dataset.hospital == address(0)) revert UnknownDataset(cardHash);
        if (dataset.hospital != msg.sender) revert NotDatasetOwner(cardHash, msg.sender);
        if (_hasThresholds[studyId]) _requireMeets(studyId, msg.sender, cardHash);
        bytes32 previous = _offers[studyId][msg.sender];
        if (previous != bytes32(0)) _studiesOf[previous].remove(studyId);
        _offers[studyId][msg.sender] = cardHash;
        _studiesOf[cardHash].add(studyId);
        emit DatasetOffered(studyId, msg.sender, cardHash);
    }

    /// @inheritdoc IDatasetInventory
    function checkAdmission(bytes32 studyId, address hospital) public view {
        if (!_hasThresholds[studyId]) return;
        bytes32 cardHash = _offers[studyId][hospital];
        if (cardHash == bytes32(0)) revert NoDatasetOffered(studyId, hospital);
        _requireMeets(studyId, hospital, cardHash);
    }

    /// @inheritdoc IDatasetInventory
    function admissible(bytes32 studyId, address hospital) external view returns (bool) {
        if (!_hasThresholds[studyId]) return true;
        bytes32 cardHash = _offers[studyId][hospital];
        if (cardHash == bytes32(0)) return false;
        return bytes(_failure(_thresholds[studyId], _datasets[cardHash].scores)).length == 0;
    }

    /// @inheritdoc IDatasetInventory
    function getDataset(bytes32 cardHash) external view returns (Dataset memory) {
        Dataset storage dataset = _datasets[cardHash];
        if (dataset.hospital == address(0)) revert UnknownDataset(cardHash);
        return dataset;
    }

    /// @inheritdoc IDatasetInventory
    function datasets() external view returns (bytes32[] memory) {
        return _cardHashes;
    }

    /// @inheritdoc IDatasetInventory
    function offeredDataset(bytes32 studyId, address hospital) external view returns (bytes32) {
        return _offers[studyId][hospital];
    }

    /// @inheritdoc IDatasetInventory
    function studiesOf(bytes32 cardHash) external view returns (bytes32[] memory) {
        return _studiesOf[cardHash].values();
    }

    /// @inheritdoc IDatasetInventory
    function thresholds(bytes32 studyId) external view returns (Thresholds memory, bool) {
        return (_thresholds[studyId], _hasThresholds[studyId]);
    }

    function _requireMeets(bytes32 studyId, address hospital, bytes32 cardHash) private view {
        string memory failed = _failure(_thresholds[studyId], _datasets[cardHash].scores);
        if (bytes(failed).length != 0) {
            revert DatasetBelowThreshold(studyId, hospital, cardHash, failed);
        }
    }

    /// @dev The first criterion `scores` fails, or "" when it meets every threshold.
    function _failure(Thresholds memory limits, Scores memory scores)
        private
        pure
        returns (string memory)
    {
        if (scores.synthetic && !limits.allowSynthetic) return "synthetic";
        if (scores.k < limits.minK) return "k";
        if (scores.l < limits.minL) return "l";
        if (scores.tClosenessPpm > limits.maxTClosenessPpm) return "t";
        if (scores.singlingOutRiskPpm > limits.maxRiskPpm) return "singling-out";
        if (scores.linkabilityRiskPpm > limits.maxRiskPpm) return "linkability";
        if (scores.inferenceRiskPpm > limits.maxRiskPpm) return "inference";
        return "";
    }

    function _validScores(Scores calldata scores) private pure returns (bool) {
        return scores.k >= 1 && scores.l >= 1 && scores.rows >= scores.k
            && scores.tClosenessPpm <= _PPM && scores.singlingOutRiskPpm <= _PPM
            && scores.linkabilityRiskPpm <= _PPM && scores.inferenceRiskPpm <= _PPM;
    }
}
