// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ConsentBatches} from "./ConsentBatches.sol";
import {DuoPurposes} from "./DuoPurposes.sol";
import {IConsentRegistry} from "./interfaces/IConsentRegistry.sol";
import {IStudyRegistry} from "./interfaces/IStudyRegistry.sol";

/**
 * @title ConsentRegistry
 * @notice Patient-signed consent per study, revocable at any time by the patient, directly or
 * through a relayed signature. Each patient has two nonce counters per study: one for the consent
 * signatures hospitals submit, one for the patient's own revocations and cancellations, so every
 * signature is usable once and no hospital can block a revocation by consuming its nonce.
 * A consent names DUO purposes and a validity period; it counts for a study only if its purposes
 * cover the study's declared purpose ({DuoPurposes}, {IStudyRegistry-studyPurpose}).
 * First consents can also be recorded a batch at a time under one Merkle root ({ConsentBatches}).
 */
contract ConsentRegistry is ConsentBatches, EIP712 {
    /// @notice EIP-712 typehash of a patient's consent.
    bytes32 public constant CONSENT_TYPEHASH = keccak256(
        "Consent(bytes32 study,address patient,address hospital,uint64 purposes,uint64 validFrom,"
        "uint64 expiresAt,uint256 nonce,uint64 deadline)"
    );
    /// @notice EIP-712 typehash of a patient's revocation.
    bytes32 public constant REVOCATION_TYPEHASH =
        keccak256("Revocation(bytes32 study,address patient,uint256 nonce,uint64 deadline)");
    /// @notice EIP-712 typehash of a patient's withdrawal of some purposes of their consent.
    bytes32 public constant PURPOSE_REVOCATION_TYPEHASH = keccak256(
        "PurposeRevocation(bytes32 study,address patient,uint64 purposes,uint256 nonce,uint64 deadline)"
    );
    /// @notice EIP-712 typehash of a patient's cancellation of pending consent signatures.
    bytes32 public constant CANCELLATION_TYPEHASH =
        keccak256("Cancellation(bytes32 study,address patient,uint256 nonce,uint64 deadline)");

    mapping(bytes32 study => mapping(address hospital => uint256)) private _lastRevocationBlock;
    mapping(bytes32 study => mapping(address hospital => uint256)) private _activeConsents;
    mapping(bytes32 study => mapping(address patient => uint256)) private _revocationNonces;

    /// @param studies The registry whose members may record consent.
    constructor(IStudyRegistry studies)
        ConsentBatches(studies)
        EIP712("consentfl ConsentRegistry", "1")
    {}

    /// @inheritdoc IConsentRegistry
    /// @dev A grant to another hospital while a consent is active revokes the old one first
    /// (emitting {ConsentRevoked} for it), so the old hospital's freshness check sees it.
    function grantWithSig(
        bytes32 study,
        address patient,
        ConsentTerms calldata terms,
        uint64 deadline,
        bytes calldata signature
    ) external {
        _checkMember(study);
        uint64 purpose = _studies.studyPurpose(study);
        _applyCount(study, _grant(study, patient, terms, deadline, signature, purpose));
    }

    /// @inheritdoc IConsentRegistry
    function grantBatchWithSig(
        bytes32 study,
        address[] calldata patients,
        ConsentTerms[] calldata terms,
        uint64[] calldata deadlines,
        bytes[] calldata signatures
    ) external {
        uint256 n = patients.length;
        if (n != terms.length || n != deadlines.length || n != signatures.length) {
            revert LengthMismatch(n, terms.length, deadlines.length, signatures.length);
        }
        _checkMember(study);
        uint64 purpose = _studies.studyPurpose(study);
        int256 delta = 0;
        for (uint256 i = 0; i < n; ++i) {
            delta += _grant(study, patients[i], terms[i], deadlines[i], signatures[i], purpose);
        }
        _applyCount(study, delta);
    }

    /// @inheritdoc IConsentRegistry
    function revoke(bytes32 study) external {
        _revoke(study, msg.sender);
    }

    /// @inheritdoc IConsentRegistry
    function revokeWithSig(bytes32 study, address patient, uint64 deadline, bytes calldata signature)
        external
    {
        _checkPatientSig(REVOCATION_TYPEHASH, study, patient, deadline, signature);
        _revoke(study, patient);
    }

    /// @inheritdoc IConsentRegistry
    function revokeBatchWithSig(
        bytes32 study,
        address[] calldata patients,
        uint64[] calldata deadlines,
        bytes[] calldata signatures
    ) external returns (uint256 revoked) {
        uint256 n = patients.length;
        if (n != deadlines.length || n != signatures.length) {
            revert RevocationBatchMismatch(n, deadlines.length, signatures.length);
        }
        for (uint256 i = 0; i < n; ++i) {
            bytes4 reason = _tryRevokeWithSig(study, patients[i], deadlines[i], signatures[i]);
            if (reason == bytes4(0)) ++revoked;
            else emit RevocationSkipped(study, patients[i], reason);
        }
    }

    /// @inheritdoc IConsentRegistry
    function revokePurposes(bytes32 study, uint64 purposes) external {
        _revokePurposes(study, msg.sender, purposes);
    }

    /// @inheritdoc IConsentRegistry
    function revokePurposesWithSig(
        bytes32 study,
        address patient,
        uint64 purposes,
        uint64 deadline,
        bytes calldata signature
    ) external {
        if (block.timestamp > deadline) revert SignatureExpired(deadline, block.timestamp);
        uint256 nonce = _revocationNonces[study][patient]++;
        bytes32 structHash = keccak256(
            abi.encode(PURPOSE_REVOCATION_TYPEHASH, study, patient, purposes, nonce, deadline)
        );
        _checkSigner(structHash, patient, signature);
        _revokePurposes(study, patient, purposes);
    }

    /// @inheritdoc IConsentRegistry
    function cancelPendingConsents(bytes32 study) external {
        _cancelPending(study, msg.sender);
    }

    /// @inheritdoc IConsentRegistry
    function cancelPendingConsentsWithSig(
        bytes32 study,
        address patient,
        uint64 deadline,
        bytes calldata signature
    ) external {
        _checkPatientSig(CANCELLATION_TYPEHASH, study, patient, deadline, signature);
        _cancelPending(study, patient);
    }

    /// @inheritdoc IConsentRegistry
    function grantNonce(bytes32 study, address patient) external view returns (uint256) {
        return _grantNonces[study][patient];
    }

    /// @inheritdoc IConsentRegistry
    function revocationNonce(bytes32 study, address patient) external view returns (uint256) {
        return _revocationNonces[study][patient];
    }

    /// @inheritdoc IConsentRegistry
    function activeConsentCount(bytes32 study, address hospital) external view returns (uint256) {
        return _activeConsents[study][hospital];
    }

    /// @inheritdoc IConsentRegistry
    function consentRecord(bytes32 study, address patient)
        external
        view
        returns (ConsentRecord memory)
    {
        PackedRecord storage record = _records[study][patient];
        return ConsentRecord({
            hospital: record.hospital,
            grantedBlock: record.grantedBlock,
            revokedBlock: record.revokedBlock,
            expiresAt: record.expiresAt,
            validFrom: record.validFrom,
            purposes: record.purposes,
            coversStudy: record.counted
        });
    }

    /// @inheritdoc IConsentRegistry
    function purposesCover(uint64 scope, uint64 purpose) external pure returns (bool) {
        return DuoPurposes.covers(scope, purpose);
    }

    /// @inheritdoc IConsentRegistry
    function isConsented(bytes32 study, address patient) external view returns (bool) {
        return _isConsented(_records[study][patient]);
    }

    /// @inheritdoc IConsentRegistry
    function consentStatusBatch(bytes32 study, address[] calldata patients)
        external
        view
        returns (bool[] memory statuses)
    {
        mapping(address patient => PackedRecord) storage records = _records[study];
        statuses = new bool[](patients.length);
        for (uint256 i = 0; i < patients.length; ++i) {
            statuses[i] = _isConsented(records[patients[i]]);
        }
    }

    /// @inheritdoc IConsentRegistry
    function lastRevocationBlock(bytes32 study, address hospital) external view returns (uint256) {
        return _lastRevocationBlock[study][hospital];
    }

    /// @inheritdoc IConsentRegistry
    // solhint-disable-next-line func-name-mixedcase
    function DOMAIN_SEPARATOR() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @dev Records one grant; returns how the caller's active count changes (-1, 0 or +1).
    function _grant(
        bytes32 study,
        address patient,
        ConsentTerms calldata terms,
        uint64 deadline,
        bytes calldata signature,
        uint64 studyPurpose
    ) private returns (int256 delta) {
        if (patient == address(0)) revert ZeroPatient();
        if (block.timestamp > deadline) revert SignatureExpired(deadline, block.timestamp);
        _checkTerms(terms);
        uint256 nonce = _grantNonces[study][patient]++;
        _checkSigner(_consentHash(study, patient, terms, nonce, deadline), patient, signature);
        return _record(study, patient, terms, nonce, DuoPurposes.covers(terms.purposes, studyPurpose));
    }

    /// @dev Writes a checked grant; returns how the caller's active count changes.
    function _record(
        bytes32 study,
        address patient,
        ConsentTerms calldata terms,
        uint256 nonce,
        bool counted
    ) private returns (int256 delta) {
        PackedRecord storage record = _records[study][patient];
        address previous = record.hospital;
        bool wasCounted = previous != address(0) && record.revokedBlock == 0 && record.counted;
        if (previous != msg.sender && previous != address(0) && record.revokedBlock == 0) {
            _lastRevocationBlock[study][previous] = block.number;
            if (wasCounted) _activeConsents[study][previous] -= 1;
            emit ConsentRevoked(study, patient, previous);
            wasCounted = false;
        } else if (wasCounted && !counted) {
            _lastRevocationBlock[study][msg.sender] = block.number; // a renewal that narrows
        }
        delta = (counted ? int256(1) : int256(0)) - (wasCounted ? int256(1) : int256(0));
        _records[study][patient] = PackedRecord({
            hospital: msg.sender,
            grantedBlock: uint40(block.number),
            revokedBlock: 0,
            bounded: terms.expiresAt != 0 || terms.validFrom != 0,
            counted: counted,
            expiresAt: terms.expiresAt,
            validFrom: terms.validFrom,
            purposes: terms.purposes
        });
        emit ConsentGranted(
            study, patient, msg.sender, terms.expiresAt, nonce, terms.purposes, terms.validFrom
        );
    }

    function _checkTerms(ConsentTerms memory terms) private view {
        if (!DuoPurposes.isValidScope(terms.purposes)) revert InvalidPurposes(terms.purposes);
        if (terms.expiresAt != 0) {
            if (terms.expiresAt <= block.timestamp) {
                revert ConsentAlreadyExpired(terms.expiresAt, block.timestamp);
            }
            if (terms.validFrom >= terms.expiresAt) {
                revert InvalidValidity(terms.validFrom, terms.expiresAt);
            }
        }
    }

    function _consentHash(
        bytes32 study,
        address patient,
        ConsentTerms memory terms,
        uint256 nonce,
        uint64 deadline
    ) private view returns (bytes32) {
        return keccak256(
            abi.encode(
                CONSENT_TYPEHASH,
                study,
                patient,
                msg.sender,
                terms.purposes,
                terms.validFrom,
                terms.expiresAt,
                nonce,
                deadline
            )
        );
    }

    function _applyCount(bytes32 study, int256 delta) internal override {
        if (delta > 0) _activeConsents[study][msg.sender] += uint256(delta);
        else if (delta < 0) _activeConsents[study][msg.sender] -= uint256(-delta);
    }

    function _revokePurposes(bytes32 study, address patient, uint64 purposes) private {
        PackedRecord storage record = _records[study][patient];
        if (record.grantedBlock == 0 || record.revokedBlock != 0) {
            revert NoActiveConsent(study, patient);
        }
        uint64 granted = record.purposes & DuoPurposes.CATEGORIES;
        if (purposes == 0 || purposes & ~granted != 0) revert InvalidPurposes(purposes);
        uint64 remaining = record.purposes & ~purposes;
        if (remaining & DuoPurposes.CATEGORIES == 0) {
            _revoke(study, patient);
            return;
        }
        record.purposes = remaining;
        address hospital = record.hospital;
        if (record.counted && !DuoPurposes.covers(remaining, _studies.studyPurpose(study))) {
            record.counted = false;
            _lastRevocationBlock[study][hospital] = block.number;
            _activeConsents[study][hospital] -= 1;
        }
        _grantNonces[study][patient] += 1; // a pending consent signature cannot undo this
        emit ConsentPurposesRevoked(study, patient, hospital, purposes, remaining);
    }

    function _revoke(bytes32 study, address patient) private {
        PackedRecord storage record = _records[study][patient];
        if (record.grantedBlock == 0 || record.revokedBlock != 0) {
            revert NoActiveConsent(study, patient);
        }
        record.revokedBlock = uint40(block.number);
        address hospital = record.hospital;
        _lastRevocationBlock[study][hospital] = block.number;
        if (record.counted) _activeConsents[study][hospital] -= 1;
        _grantNonces[study][patient] += 1; // a pending consent signature cannot undo this
        emit ConsentRevoked(study, patient, hospital);
    }

    /// @dev {revokeWithSig} without reverting: returns 0 when applied, else the selector of the
    /// error it would have reverted with (and then changes nothing, not even the nonce).
    function _tryRevokeWithSig(
        bytes32 study,
        address patient,
        uint64 deadline,
        bytes calldata signature
    ) private returns (bytes4) {
        if (block.timestamp > deadline) return SignatureExpired.selector;
        PackedRecord storage record = _records[study][patient];
        if (record.grantedBlock == 0 || record.revokedBlock != 0) return NoActiveConsent.selector;
        uint256 nonce = _revocationNonces[study][patient];
        bytes32 structHash =
            keccak256(abi.encode(REVOCATION_TYPEHASH, study, patient, nonce, deadline));
        (address signer, ECDSA.RecoverError err,) =
            ECDSA.tryRecoverCalldata(_hashTypedDataV4(structHash), signature);
        if (err != ECDSA.RecoverError.NoError || signer != patient) return InvalidSigner.selector;
        _revocationNonces[study][patient] = nonce + 1;
        _revoke(study, patient);
        return bytes4(0);
    }

    function _cancelPending(bytes32 study, address patient) private {
        uint256 next = _grantNonces[study][patient] + 1;
        _grantNonces[study][patient] = next;
        emit PendingConsentsCancelled(study, patient, next);
    }

    /// @dev Checks a patient-side signature (revocation or cancellation) and uses its nonce.
    function _checkPatientSig(
        bytes32 typehash,
        bytes32 study,
        address patient,
        uint64 deadline,
        bytes calldata signature
    ) private {
        if (block.timestamp > deadline) revert SignatureExpired(deadline, block.timestamp);
        uint256 nonce = _revocationNonces[study][patient]++;
        bytes32 structHash = keccak256(abi.encode(typehash, study, patient, nonce, deadline));
        _checkSigner(structHash, patient, signature);
    }

    function _checkSigner(bytes32 structHash, address patient, bytes calldata signature)
        private
        view
    {
        address signer = ECDSA.recoverCalldata(_hashTypedDataV4(structHash), signature);
        if (signer != patient) revert InvalidSigner(signer, patient);
    }

    function _checkFirstGrant(
        bytes32 study,
        address patient,
        ConsentTerms memory terms,
        uint64 deadline,
        bytes32 r,
        bytes32 vs
    ) internal view override {
        if (patient == address(0)) revert ZeroPatient();
        if (block.timestamp > deadline) revert SignatureExpired(deadline, block.timestamp);
        _checkTerms(terms);
        if (_grantNonces[study][patient] != 0) revert NotFirstGrant(study, patient);
        bytes32 digest = _hashTypedDataV4(_consentHash(study, patient, terms, 0, deadline));
        address signer = ECDSA.recover(digest, r, vs);
        if (signer != patient) revert InvalidSigner(signer, patient);
    }
}
