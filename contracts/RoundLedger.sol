// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IConsentRegistry} from "./interfaces/IConsentRegistry.sol";
import {IPrivacyBudget} from "./interfaces/IPrivacyBudget.sol";
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
    IPrivacyBudget private immutable _budget;

    mapping(bytes32 study => uint64) private _roundCount;
    mapping(bytes32 study => mapping(uint64 round => Round)) private _rounds;
    mapping(bytes32 study => mapping(uint64 round => Update[])) private _updates;
    mapping(bytes32 study => mapping(uint64 round => mapping(address hospital => bool))) private
        _submitted;

    /// @param studies The study registry (members, aggregator, minimum updates).
    /// @param consents The consent registry (last revocation block per hospital).
    /// @param budget The privacy budget of dp-mode studies (asked once per submission).
    constructor(IStudyRegistry studies, IConsentRegistry consents, IPrivacyBudget budget) {
        _studies = studies;
        _consents = consents;
        _budget = budget;
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
        _open(study, round, baseModelHash, baseModelCid);
    }

    /// @inheritdoc IRoundLedger
    function submitUpdate(
        bytes32 study,
        uint64 round,
        bytes32 updateHash,
        string calldata updateCid,
        uint64 numSamples,
        uint32 numPatients,
        bytes32 dataRoot,
        uint64 consentBlock
    ) external {
        if (!_studies.isMember(study, msg.sender)) revert NotStudyMember(study, msg.sender);
        Round storage r = _rounds[study][round];
        if (r.state != RoundState.Open) revert RoundNotOpen(study, round);
        if (_submitted[study][round][msg.sender]) revert AlreadySubmitted(study, round, msg.sender);
        uint256 lastRevocation = _consents.lastRevocationBlock(study, msg.sender);
        if (consentBlock < lastRevocation) revert StaleConsent(consentBlock, lastRevocation);
        if (consentBlock >= block.number) revert ConsentBlockInFuture(consentBlock, block.number);
        if (consentBlock < r.openedBlock) revert ConsentBlockBeforeRound(consentBlock, r.openedBlock);
        uint256 active = _consents.activeConsentCount(study, msg.sender);
        if (numPatients == 0 || numPatients > active) revert InvalidPatientCount(numPatients, active);
        if (updateHash == bytes32(0) || dataRoot == bytes32(0)) revert ZeroHash();
        if (numSamples == 0) revert ZeroSamples();
        _budget.requireCharged(study, round, msg.sender); // dp mode: reverts BudgetNotCharged
        _submitted[study][round][msg.sender] = true;
        _updates[study][round].push(
            Update({
                hospital: msg.sender,
                updateHash: updateHash,
                updateCid: updateCid,
                numSamples: numSamples,
                numPatients: numPatients,
                dataRoot: dataRoot,
                consentBlock: consentBlock,
                submittedBlock: block.number
            })
        );
        r.updateCount += 1;
        emit UpdateSubmitted(
            study,
            round,
            msg.sender,
            updateHash,
            updateCid,
            numSamples,
            numPatients,
            dataRoot,
            consentBlock
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
        _finalize(study, round, modelHash, modelCid, metricsCid, consideredUpdates);
    }

    /// @inheritdoc IRoundLedger
    function finalizeAndOpenRound(
        bytes32 study,
        uint64 round,
        bytes32 modelHash,
        string calldata modelCid,
        string calldata metricsCid,
        uint32 consideredUpdates
    ) external {
        _finalize(study, round, modelHash, modelCid, metricsCid, consideredUpdates);
        // `round` was open, so it was the latest (rounds open only after the previous one is
        // finalized): round + 1 is the expected next round, its predecessor is now finalized
        // and its base hash, the model's, is not zero (checked by _finalize)
        _open(study, round + 1, modelHash, modelCid);
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
    function getRoundWithUpdates(bytes32 study, uint64 round)
        external
        view
        returns (RoundView memory)
    {
        return _view(study, round);
    }

    /// @inheritdoc IRoundLedger
    function getLatestRound(bytes32 study) external view returns (RoundView memory v) {
        uint64 count = _roundCount[study];
        if (count == 0) {
            v.roundCount = 0;
            return v;
        }
        return _view(study, count - 1);
    }

    /// @inheritdoc IRoundLedger
    function roundCount(bytes32 study) external view returns (uint64) {
        return _roundCount[study];
    }

    /// @inheritdoc IRoundLedger
    function verifyDataMembership(
        bytes32 root,
        address patient,
        uint8 depth,
        uint256 bitmap,
        bytes32[] calldata siblings
    ) external pure returns (bool) {
        (bool wellFormed, bytes32 reached) =
            _smtRoot(_smtLeaf(patient), patient, depth, bitmap, siblings);
        return wellFormed && reached == root;
    }

    /// @inheritdoc IRoundLedger
    function verifyDataNonMembership(
        bytes32 root,
        address patient,
        address occupant,
        uint8 depth,
        uint256 bitmap,
        bytes32[] calldata siblings
    ) external pure returns (bool) {
        bytes32 start = bytes32(0);
        if (occupant != address(0)) {
            if (occupant == patient || depth > 160) return false;
            // the occupant's leaf stands for the whole subtree at `depth` on the patient's path
            if ((uint256(uint160(occupant) ^ uint160(patient)) >> (160 - depth)) != 0) return false;
            start = _smtLeaf(occupant);
        }
        (bool wellFormed, bytes32 reached) = _smtRoot(start, patient, depth, bitmap, siblings);
        return wellFormed && reached == root;
    }

    function _view(bytes32 study, uint64 round) private view returns (RoundView memory) {
        return RoundView({
            roundCount: _roundCount[study],
            round: round,
            record: _rounds[study][round],
            updates: _updates[study][round]
        });
    }

    /// @dev Opens `round` (every check already made by the caller).
    function _open(bytes32 study, uint64 round, bytes32 baseModelHash, string calldata baseModelCid)
        private
    {
        Round storage r = _rounds[study][round];
        r.baseModelHash = baseModelHash;
        r.baseModelCid = baseModelCid;
        r.openedBlock = block.number;
        r.state = RoundState.Open;
        _roundCount[study] = round + 1;
        emit RoundOpened(study, round, baseModelHash, baseModelCid);
    }

    /// @dev Checks and finalizes open `round` (see {IRoundLedger-finalizeRound}).
    function _finalize(
        bytes32 study,
        uint64 round,
        bytes32 modelHash,
        string calldata modelCid,
        string calldata metricsCid,
        uint32 consideredUpdates
    ) private {
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

    function _checkAggregator(bytes32 study) private view returns (IStudyRegistry.Study memory s) {
        if (!_studies.studyExists(study)) revert UnknownStudy(study);
        s = _studies.getStudy(study);
        if (s.aggregator != msg.sender) revert NotAggregator(study, msg.sender);
    }

    // The sparse Merkle tree is written by hand: OpenZeppelin has no sparse tree (its
    // MerkleProof verifies sorted-pair trees, whose absence proofs trust the builder's order).
    function _smtLeaf(address patient) private pure returns (bytes32) {
        return keccak256(abi.encodePacked(bytes1(0x00), patient));
    }

    /// @dev The root reached from `node` at `depth` on `key`'s path; `wellFormed` is false when
    /// the bitmap and the siblings disagree or `depth` exceeds 160.
    function _smtRoot(
        bytes32 node,
        address key,
        uint8 depth,
        uint256 bitmap,
        bytes32[] calldata siblings
    ) private pure returns (bool wellFormed, bytes32) {
        if (depth > 160 || (bitmap >> depth) != 0) return (false, node);
        uint256 path = uint160(key);
        uint256 used = 0;
        for (uint256 level = depth; level > 0; --level) {
            uint256 d = level - 1;
            bytes32 sibling = bytes32(0);
            if ((bitmap >> d) & 1 == 1) {
                if (used == siblings.length) return (false, node);
                sibling = siblings[used++];
            }
            node = (path >> (159 - d)) & 1 == 0
                ? keccak256(abi.encodePacked(bytes1(0x01), node, sibling))
                : keccak256(abi.encodePacked(bytes1(0x01), sibling, node));
        }
        return (used == siblings.length, node);
    }
}
