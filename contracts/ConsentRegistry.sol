// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {IConsentRegistry} from "./interfaces/IConsentRegistry.sol";
import {IStudyRegistry} from "./interfaces/IStudyRegistry.sol";

/**
 * @title ConsentRegistry
 * @notice Patient-signed consent per study, revocable at any time by the patient, directly or
 * through a relayed signature. Each patient has two nonce counters per study: one for the consent
 * signatures hospitals submit, one for the patient's own revocations and cancellations, so every
 * signature is usable once and no hospital can block a revocation by consuming its nonce.
 */
contract ConsentRegistry is IConsentRegistry, EIP712 {
    /// @notice EIP-712 typehash of a patient's consent.
    bytes32 public constant CONSENT_TYPEHASH = keccak256(
        "Consent(bytes32 study,address patient,address hospital,uint64 expiresAt,uint256 nonce,uint64 deadline)"
    );
    /// @notice EIP-712 typehash of a patient's revocation.
    bytes32 public constant REVOCATION_TYPEHASH =
        keccak256("Revocation(bytes32 study,address patient,uint256 nonce,uint64 deadline)");
    /// @notice EIP-712 typehash of a patient's cancellation of pending consent signatures.
    bytes32 public constant CANCELLATION_TYPEHASH =
        keccak256("Cancellation(bytes32 study,address patient,uint256 nonce,uint64 deadline)");

    /// @dev Storage form of {ConsentRecord}. Hospital, blocks and an "expires" flag share one
    /// slot, so a status check of a consent that never expires reads one slot, and granting it
    /// writes one fresh slot; `expiresAt` lives in a second slot, read only when flagged.
    struct PackedRecord {
        address hospital;
        uint40 grantedBlock;
        uint40 revokedBlock;
        bool expires;
        uint64 expiresAt;
    }

    IStudyRegistry private immutable _studies;

    mapping(bytes32 study => mapping(address patient => PackedRecord)) private _records;
    mapping(bytes32 study => mapping(address hospital => uint256)) private _lastRevocationBlock;
    mapping(bytes32 study => mapping(address hospital => uint256)) private _activeConsents;
    // Two plain counters rather than OpenZeppelin `Nonces` (one counter per owner, so one per
    // patient across studies: the H7 hole) or `NoncesKeyed` (which packs the key into the
    // nonce's high bits, so every signed nonce would be a 256-bit number clients cannot count).
    mapping(bytes32 study => mapping(address patient => uint256)) private _grantNonces;
    mapping(bytes32 study => mapping(address patient => uint256)) private _revocationNonces;

    /// @param studies The registry whose members may record consent.
    constructor(IStudyRegistry studies) EIP712("consentfl ConsentRegistry", "1") {
        _studies = studies;
    }

    /// @inheritdoc IConsentRegistry
    /// @dev A grant to another hospital while a consent is active revokes the old one first
    /// (emitting {ConsentRevoked} for it), so the old hospital's freshness check sees it.
    function grantWithSig(
        bytes32 study,
        address patient,
        uint64 expiresAt,
        uint64 deadline,
        bytes calldata signature
    ) external {
        _checkMember(study);
        if (_grant(study, patient, expiresAt, deadline, signature)) {
            _activeConsents[study][msg.sender] += 1;
        }
    }

    /// @inheritdoc IConsentRegistry
    function grantBatchWithSig(
        bytes32 study,
        address[] calldata patients,
        uint64[] calldata expiresAt,
        uint64[] calldata deadlines,
        bytes[] calldata signatures
    ) external {
        uint256 n = patients.length;
        if (n != expiresAt.length || n != deadlines.length || n != signatures.length) {
            revert LengthMismatch(n, expiresAt.length, deadlines.length, signatures.length);
        }
        _checkMember(study);
        uint256 added = 0;
        for (uint256 i = 0; i < n; ++i) {
            if (_grant(study, patients[i], expiresAt[i], deadlines[i], signatures[i])) ++added;
        }
        if (added != 0) _activeConsents[study][msg.sender] += added;
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
            expiresAt: record.expiresAt
        });
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

    /// @dev Records one grant; returns whether the caller's active count must grow by one.
    function _grant(
        bytes32 study,
        address patient,
        uint64 expiresAt,
        uint64 deadline,
        bytes calldata signature
    ) private returns (bool counted) {
        if (patient == address(0)) revert ZeroPatient();
        if (block.timestamp > deadline) revert SignatureExpired(deadline, block.timestamp);
        if (expiresAt != 0 && expiresAt <= block.timestamp) {
            revert ConsentAlreadyExpired(expiresAt, block.timestamp);
        }
        uint256 nonce = _grantNonces[study][patient]++;
        bytes32 structHash = keccak256(
            abi.encode(CONSENT_TYPEHASH, study, patient, msg.sender, expiresAt, nonce, deadline)
        );
        _checkSigner(structHash, patient, signature);

        PackedRecord storage record = _records[study][patient];
        address previous = record.hospital;
        bool active = previous != address(0) && record.revokedBlock == 0;
        if (active && previous != msg.sender) {
            _lastRevocationBlock[study][previous] = block.number;
            _activeConsents[study][previous] -= 1;
            emit ConsentRevoked(study, patient, previous);
        }
        counted = !active || previous != msg.sender;
        _records[study][patient] = PackedRecord({
            hospital: msg.sender,
            grantedBlock: uint40(block.number),
            revokedBlock: 0,
            expires: expiresAt != 0,
            expiresAt: expiresAt
        });
        emit ConsentGranted(study, patient, msg.sender, expiresAt, nonce);
    }

    function _revoke(bytes32 study, address patient) private {
        PackedRecord storage record = _records[study][patient];
        if (record.grantedBlock == 0 || record.revokedBlock != 0) {
            revert NoActiveConsent(study, patient);
        }
        record.revokedBlock = uint40(block.number);
        address hospital = record.hospital;
        _lastRevocationBlock[study][hospital] = block.number;
        _activeConsents[study][hospital] -= 1;
        _grantNonces[study][patient] += 1; // a pending consent signature cannot undo this
        emit ConsentRevoked(study, patient, hospital);
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

    function _checkMember(bytes32 study) private view {
        if (!_studies.studyExists(study)) revert UnknownStudy(study);
        if (!_studies.isMember(study, msg.sender)) revert NotStudyMember(study, msg.sender);
    }

    function _checkSigner(bytes32 structHash, address patient, bytes calldata signature)
        private
        view
    {
        address signer = ECDSA.recoverCalldata(_hashTypedDataV4(structHash), signature);
        if (signer != patient) revert InvalidSigner(signer, patient);
    }

    function _isConsented(PackedRecord storage record) private view returns (bool) {
        return record.grantedBlock != 0 && record.revokedBlock == 0
            && (!record.expires || record.expiresAt > block.timestamp);
    }
}
