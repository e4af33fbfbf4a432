// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {IConsentRegistry} from "./interfaces/IConsentRegistry.sol";
import {IStudyRegistry} from "./interfaces/IStudyRegistry.sol";

/**
 * @title ConsentRegistry
 * @notice Patient-signed consent per study, revocable at any time by the patient, directly or
 * through a relayed signature. One nonce counter per patient covers grants and revocations, so
 * every signature is usable once.
 */
contract ConsentRegistry is IConsentRegistry, EIP712, Nonces {
    /// @notice EIP-712 typehash of a patient's consent.
    bytes32 public constant CONSENT_TYPEHASH = keccak256(
        "Consent(bytes32 study,address patient,address hospital,uint64 expiresAt,uint256 nonce)"
    );
    /// @notice EIP-712 typehash of a patient's revocation.
    bytes32 public constant REVOCATION_TYPEHASH =
        keccak256("Revocation(bytes32 study,address patient,uint256 nonce,uint64 deadline)");

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

    /// @param studies The registry whose members may record consent.
    constructor(IStudyRegistry studies) EIP712("consentfl ConsentRegistry", "1") {
        _studies = studies;
    }

    /// @inheritdoc IConsentRegistry
    /// @dev A grant to another hospital while a consent is active revokes the old one first
    /// (emitting {ConsentRevoked} for it), so the old hospital's freshness check sees it.
    function grantWithSig(bytes32 study, address patient, uint64 expiresAt, bytes calldata signature)
        external
    {
        _checkMember(study);
        _grant(study, patient, expiresAt, signature);
    }

    /// @inheritdoc IConsentRegistry
    function grantBatchWithSig(
        bytes32 study,
        address[] calldata patients,
        uint64[] calldata expiresAt,
        bytes[] calldata signatures
    ) external {
        if (patients.length != expiresAt.length || patients.length != signatures.length) {
            revert LengthMismatch(patients.length, expiresAt.length, signatures.length);
        }
        _checkMember(study);
        for (uint256 i = 0; i < patients.length; ++i) {
            _grant(study, patients[i], expiresAt[i], signatures[i]);
        }
    }

    /// @inheritdoc IConsentRegistry
    function revoke(bytes32 study) external {
        _revoke(study, msg.sender);
    }

    /// @inheritdoc IConsentRegistry
    function revokeWithSig(bytes32 study, address patient, uint64 deadline, bytes calldata signature)
        external
    {
        if (block.timestamp > deadline) revert SignatureExpired(deadline, block.timestamp);
        bytes32 structHash =
            keccak256(abi.encode(REVOCATION_TYPEHASH, study, patient, _useNonce(patient), deadline));
        _checkSigner(structHash, patient, signature);
        _revoke(study, patient);
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

    function _grant(bytes32 study, address patient, uint64 expiresAt, bytes calldata signature)
        private
    {
        if (patient == address(0)) revert ZeroPatient();
        if (expiresAt != 0 && expiresAt <= block.timestamp) {
            revert ConsentAlreadyExpired(expiresAt, block.timestamp);
        }
        uint256 nonce = _useNonce(patient);
        bytes32 structHash =
            keccak256(abi.encode(CONSENT_TYPEHASH, study, patient, msg.sender, expiresAt, nonce));
        _checkSigner(structHash, patient, signature);

        PackedRecord storage record = _records[study][patient];
        address previous = record.hospital;
        if (previous != address(0) && previous != msg.sender && record.revokedBlock == 0) {
            _lastRevocationBlock[study][previous] = block.number;
            emit ConsentRevoked(study, patient, previous);
        }
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
        _lastRevocationBlock[study][record.hospital] = block.number;
        emit ConsentRevoked(study, patient, record.hospital);
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
