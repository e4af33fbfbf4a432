// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Hashes} from "@openzeppelin/contracts/utils/cryptography/Hashes.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {DuoPurposes} from "./DuoPurposes.sol";
import {IConsentBatches} from "./interfaces/IConsentBatches.sol";
import {IConsentRegistry} from "./interfaces/IConsentRegistry.sol";
import {IStudyRegistry} from "./interfaces/IStudyRegistry.sol";

/**
 * @title ConsentBatches
 * @notice {IConsentBatches}: first consents recorded a batch at a time under one Merkle root,
 * the per-patient record written lazily. It holds the per-patient records and grant nonces that
 * {ConsentRegistry} shares; the registry implements the signature check ({_checkFirstGrant},
 * which needs its EIP-712 domain) and the hospital count ({_applyCount}).
 */
abstract contract ConsentBatches is IConsentRegistry, IConsentBatches {
    /// @notice Most patients one {grantFirstBatchWithSig} takes (keeps a batch under ~16M gas).
    uint256 public constant MAX_CONSENT_BATCH = 1024;

    IStudyRegistry internal immutable _studies;

    mapping(bytes32 study => ConsentBatch[]) private _batches;

    /// @dev Storage form of {ConsentRecord}. Hospital, blocks, a "time-bounded" flag and
    /// whether the consent covers the study's purpose (so is counted) share one slot, so a
    /// status check of a consent without a validity window reads one slot; the window and the
    /// purposes live in a second slot.
    struct PackedRecord {
        address hospital;
        uint40 grantedBlock;
        uint40 revokedBlock;
        bool bounded;
        bool counted;
        uint64 expiresAt;
        uint64 validFrom;
        uint64 purposes;
    }

    mapping(bytes32 study => mapping(address patient => PackedRecord)) internal _records;
    // Two plain counters rather than OpenZeppelin `Nonces` (one counter per owner, so one per
    // patient across studies: the H7 hole) or `NoncesKeyed` (which packs the key into the
    // nonce's high bits, so every signed nonce would be a 256-bit number clients cannot count).
    mapping(bytes32 study => mapping(address patient => uint256)) internal _grantNonces;

    /// @param studies The registry whose members may record consent.
    constructor(IStudyRegistry studies) {
        _studies = studies;
    }

    /// @inheritdoc IConsentBatches
    function grantFirstBatchWithSig(bytes32 study, FirstGrant[] calldata grants)
        external
        returns (uint256 batchId)
    {
        uint256 n = grants.length;
        if (n == 0 || n > MAX_CONSENT_BATCH) revert BadBatchSize(n);
        _checkMember(study);
        uint64 purpose = _studyPurpose(study);
        bytes32[] memory leaves = new bytes32[](n);
        uint256 counted = 0;
        for (uint256 i = 0; i < n; ++i) {
            if (i > 0 && grants[i].patient <= grants[i - 1].patient) revert PatientsNotAscending(i);
            bool covers;
            (leaves[i], covers) = _enrolOne(study, grants[i], purpose);
            if (covers) ++counted;
        }
        bytes32 root = _root(leaves);
        _batches[study].push(
            ConsentBatch({
                root: root, hospital: msg.sender, grantedBlock: uint40(block.number), size: uint32(n)
            })
        );
        batchId = _batches[study].length;
        _applyCount(study, int256(counted));
        emit ConsentBatchRecorded(study, msg.sender, batchId, root, n);
    }

    /// @inheritdoc IConsentBatches
    function materializeConsent(
        bytes32 study,
        address patient,
        uint256 batchId,
        ConsentTerms calldata terms,
        bytes32[] calldata proof
    ) external {
        if (_hasRecord(study, patient)) revert AlreadyMaterialized(study, patient);
        ConsentBatch memory batch = _batchOf(study, batchId);
        if (!MerkleProof.verifyCalldata(proof, batch.root, _leaf(patient, terms))) {
            revert NotInBatch(study, patient, batchId);
        }
        _writeBatchRecord(study, patient, batch, terms);
        emit ConsentMaterialized(study, patient, batchId);
    }

    /// @inheritdoc IConsentBatches
    function isConsentedInBatch(
        bytes32 study,
        address patient,
        uint256 batchId,
        ConsentTerms calldata terms,
        bytes32[] calldata proof
    ) external view returns (bool) {
        if (_hasRecord(study, patient)) return _recordConsented(study, patient);
        if (batchId == 0 || batchId > _batches[study].length) return false;
        bytes32 root = _batches[study][batchId - 1].root;
        return MerkleProof.verifyCalldata(proof, root, _leaf(patient, terms))
            && _covers(terms.purposes, _studyPurpose(study)) && terms.validFrom <= block.timestamp
            && (terms.expiresAt == 0 || terms.expiresAt > block.timestamp);
    }

    /// @inheritdoc IConsentBatches
    function consentBatch(bytes32 study, uint256 batchId)
        external
        view
        returns (ConsentBatch memory batch)
    {
        if (batchId != 0 && batchId <= _batches[study].length) batch = _batches[study][batchId - 1];
    }

    /// @inheritdoc IConsentBatches
    function consentBatchCount(bytes32 study) external view returns (uint256) {
        return _batches[study].length;
    }

    /// @dev Checks one first grant (member-independent parts): patient, deadline, terms, nonce 0
    /// and the patient's compact signature (`r`, `vs`). Writes nothing.
    function _checkFirstGrant(
        bytes32 study,
        address patient,
        ConsentTerms memory terms,
        uint64 deadline,
        bytes32 r,
        bytes32 vs
    ) internal view virtual;

    /// @dev Moves the caller's {activeConsentCount} in `study` by `delta`.
    function _applyCount(bytes32 study, int256 delta) internal virtual;

    /// @dev Writes a batch consent into the patient's per-patient record (grant nonce at least 1).
    function _writeBatchRecord(
        bytes32 study,
        address patient,
        ConsentBatch memory batch,
        ConsentTerms calldata terms
    ) internal {
        if (_grantNonces[study][patient] == 0) _grantNonces[study][patient] = 1;
        _records[study][patient] = PackedRecord({
            hospital: batch.hospital,
            grantedBlock: batch.grantedBlock,
            revokedBlock: 0,
            bounded: terms.expiresAt != 0 || terms.validFrom != 0,
            counted: DuoPurposes.covers(terms.purposes, _studyPurpose(study)),
            expiresAt: terms.expiresAt,
            validFrom: terms.validFrom,
            purposes: terms.purposes
        });
    }

    function _hasRecord(bytes32 study, address patient) internal view returns (bool) {
        return _records[study][patient].grantedBlock != 0;
    }

    function _recordConsented(bytes32 study, address patient) internal view returns (bool) {
        return _isConsented(_records[study][patient]);
    }

    function _isConsented(PackedRecord storage record) internal view returns (bool) {
        return record.grantedBlock != 0 && record.revokedBlock == 0 && record.counted
            && (!record.bounded
                || (record.validFrom <= block.timestamp
                    && (record.expiresAt == 0 || record.expiresAt > block.timestamp)));
    }

    /// @dev Reverts unless `study` exists and the caller is one of its member hospitals.
    function _checkMember(bytes32 study) internal view {
        if (!_studies.studyExists(study)) revert UnknownStudy(study);
        if (!_studies.isMember(study, msg.sender)) revert NotStudyMember(study, msg.sender);
    }

    function _studyPurpose(bytes32 study) internal view returns (uint64) {
        return _studies.studyPurpose(study);
    }

    function _covers(uint64 scope, uint64 purpose) internal pure returns (bool) {
        return DuoPurposes.covers(scope, purpose);
    }

    /// @dev Checks one first grant and emits its {FirstConsentGranted}; returns its leaf and
    /// whether it covers the study's purpose. Gives back the memory it used (hashing and
    /// signature recovery allocate ~0.6 KB that nothing reads afterwards): without that, memory
    /// grows with the batch and its quadratic cost adds ~0.8k gas per patient at 1,000.
    function _enrolOne(bytes32 study, FirstGrant calldata grant, uint64 purpose)
        private
        returns (bytes32 leaf, bool covers)
    {
        uint256 freeMemory;
        assembly ("memory-safe") {
            freeMemory := mload(0x40)
        }
        ConsentTerms memory terms = grant.terms; // validated once, then read from memory
        address patient = grant.patient;
        _checkFirstGrant(study, patient, terms, grant.deadline, grant.r, grant.vs);
        emit FirstConsentGranted(
            patient,
            uint256(terms.purposes) | (uint256(terms.validFrom) << 64)
                | (uint256(terms.expiresAt) << 128)
        );
        leaf = _leaf(patient, terms);
        covers = _covers(terms.purposes, purpose);
        assembly ("memory-safe") {
            mstore(0x40, freeMemory)
        }
    }

    function _batchOf(bytes32 study, uint256 batchId) private view returns (ConsentBatch memory) {
        if (batchId == 0 || batchId > _batches[study].length) revert UnknownBatch(study, batchId);
        return _batches[study][batchId - 1];
    }

    function _leaf(address patient, ConsentTerms memory terms) private pure returns (bytes32) {
        return keccak256(abi.encode(patient, terms.purposes, terms.validFrom, terms.expiresAt));
    }

    /// @dev The root over `leaves`, built in memory. Hand-written: OpenZeppelin verifies proofs
    /// ({MerkleProof}) but has no in-memory tree builder; pairs use its commutative keccak, so
    /// its {MerkleProof-verifyCalldata} checks the proofs. An odd last node moves up unchanged.
    function _root(bytes32[] memory leaves) private pure returns (bytes32) {
        uint256 width = leaves.length;
        while (width > 1) {
            uint256 half = 0;
            for (uint256 i = 0; i < width; i += 2) {
                leaves[half++] = i + 1 < width
                    ? Hashes.commutativeKeccak256(leaves[i], leaves[i + 1])
                    : leaves[i];
            }
            width = half;
        }
        return leaves[0];
    }
}
