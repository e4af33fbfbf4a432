// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {IConsentRegistry} from "./interfaces/IConsentRegistry.sol";
import {IRoundLedger} from "./interfaces/IRoundLedger.sol";
import {IStudyRegistry} from "./interfaces/IStudyRegistry.sol";

/**
 * @title RoundLedger
 * @notice The training history of each study: strictly sequential rounds, each hospital's update
 * with its data commitment, and the freshness rule that refuses updates computed over a consent
 * view made stale by a later revocation.
 */
contract RoundLedger is IRoundLedger {
    IStudyRegistry private immutable _studies;
    IConsentRegistry private immutable _consents;

    mapping(bytes32 study => uint64) private _roundCount;
    mapping(bytes32 study => mapping(uint64 round => Round)) private _rounds;
    mapping(bytes32 study => mapping(uint64 round => Update[])) private _updates;
    mapping(bytes32 study => mapping(uint64 round => mapping(address hospital => bool))) private
        _submitted;

    /// @param studies The study registry (members, aggregator, minimum updates).
    /// @param consents The consent registry (last revocation block per hospital).
    constructor(IStudyRegistry studies, IConsentRegistry consents) {
        _studies = studies;
        _consents = consents;
    }

    /// @inheritdoc IRoundLedger
    function openRound(bytes32 study, uint64 round, bytes32 baseModelHash, string calldata baseModelCid)
        external
    {
        _checkAggregator(study);
        uint64 expected = _roundCount[study];
        if (round != expected) revert UnexpectedRound(study, round, expected);
        if (round > 0 && _rounds[study][round - 1].state != RoundState.Finalized) {
            revert PreviousRoundNotFinalized(study, round - 1);
        }
        if (baseModelHash == bytes32(0)) revert ZeroHash();
        Round storage r = _rounds[study][round];
        r.baseModelHash = baseModelHash;
        r.baseModelCid = baseModelCid;
        r.openedBlock = block.number;
        r.state = RoundState.Open;
        _roundCount[study] = round + 1;
        emit RoundOpened(study, round, baseModelHash, baseModelCid);
    }

    /// @inheritdoc IRoundLedger
    function submitUpdate(
        bytes32 study,
        uint64 round,
        bytes32 updateHash,
        string calldata updateCid,
        uint64 numSamples,
        bytes32 dataRoot,
        uint64 consentBlock
    ) external {
        if (!_studies.isMember(study, msg.sender)) revert NotStudyMember(study, msg.sender);
        Round storage r = _rounds[study][round];
        if (r.state != RoundState.Open) revert RoundNotOpen(study, round);
        if (_submitted[study][round][msg.sender]) revert AlreadySubmitted(study, round, msg.sender);
        uint256 lastRevocation = _consents.lastRevocationBlock(study, msg.sender);
        if (consentBlock < lastRevocation) revert StaleConsent(consentBlock, lastRevocation);
        if (consentBlock > block.number) revert ConsentBlockInFuture(consentBlock, block.number);
        if (updateHash == bytes32(0)) revert ZeroHash();
        if (numSamples == 0) revert ZeroSamples();
        _submitted[study][round][msg.sender] = true;
        _updates[study][round].push(
            Update({
                hospital: msg.sender,
                updateHash: updateHash,
                updateCid: updateCid,
                numSamples: numSamples,
                dataRoot: dataRoot,
                consentBlock: consentBlock,
                submittedBlock: block.number
            })
        );
        r.updateCount += 1;
        emit UpdateSubmitted(
            study, round, msg.sender, updateHash, updateCid, numSamples, dataRoot, consentBlock
        );
    }

    /// @inheritdoc IRoundLedger
    function finalizeRound(
        bytes32 study,
        uint64 round,
        bytes32 modelHash,
        string calldata modelCid,
        string calldata metricsCid,
        uint32 consideredUpdates
    ) external {
        IStudyRegistry.Study memory s = _checkAggregator(study);
        Round storage r = _rounds[study][round];
        if (r.state != RoundState.Open) revert RoundNotOpen(study, round);
        if (r.updateCount < s.minUpdates) {
            revert NotEnoughUpdates(study, round, r.updateCount, s.minUpdates);
        }
        if (consideredUpdates != r.updateCount) {
            revert AggregatedUpdatesMismatch(study, round, consideredUpdates, r.updateCount);
        }
        if (modelHash == bytes32(0)) revert ZeroHash();
        r.modelHash = modelHash;
        r.modelCid = modelCid;
        r.metricsCid = metricsCid;
        r.finalizedBlock = block.number;
        r.state = RoundState.Finalized;
        emit RoundFinalized(study, round, modelHash, modelCid, metricsCid, r.updateCount);
    }

    /// @inheritdoc IRoundLedger
    function getRound(bytes32 study, uint64 round) external view returns (Round memory) {
        return _rounds[study][round];
    }

    /// @inheritdoc IRoundLedger
    function getUpdates(bytes32 study, uint64 round) external view returns (Update[] memory) {
        return _updates[study][round];
    }

    /// @inheritdoc IRoundLedger
    function hasSubmitted(bytes32 study, uint64 round, address hospital)
        external
        view
        returns (bool)
    {
        return _submitted[study][round][hospital];
    }

    /// @inheritdoc IRoundLedger
    function roundCount(bytes32 study) external view returns (uint64) {
        return _roundCount[study];
    }

    /// @inheritdoc IRoundLedger
    function verifyDataLeaf(bytes32 root, uint256 index, address patient, bytes32[] calldata proof)
        external
        pure
        returns (bool)
    {
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(index, patient))));
        return MerkleProof.verifyCalldata(proof, root, leaf);
    }

    function _checkAggregator(bytes32 study) private view returns (IStudyRegistry.Study memory s) {
        if (!_studies.studyExists(study)) revert UnknownStudy(study);
        s = _studies.getStudy(study);
        if (s.aggregator != msg.sender) revert NotAggregator(study, msg.sender);
    }
}
