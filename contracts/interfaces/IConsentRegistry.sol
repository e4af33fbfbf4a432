// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/**
 * @title IConsentRegistry
 * @notice Patient-signed (EIP-712) consent to let one hospital train on the patient's data in one
 * study, and its revocation. Default deny: no grant means no consent.
 */
interface IConsentRegistry {
    /// @notice A patient's consent in a study. `revokedBlock` 0 means not revoked.
    struct ConsentRecord {
        address hospital;
        uint256 grantedBlock;
        uint256 revokedBlock;
        uint64 expiresAt;
    }

    /// @notice `studyId` was never created.
    error UnknownStudy(bytes32 studyId);
    /// @notice `caller` is not a member hospital of `studyId`.
    error NotStudyMember(bytes32 studyId, address caller);
    /// @notice The signature recovers to `signer`, not to `patient`.
    error InvalidSigner(address signer, address patient);
    /// @notice `expiresAt` is not in the future.
    error ConsentAlreadyExpired(uint64 expiresAt, uint256 timestamp);
    /// @notice A relayed revocation's `deadline` has passed.
    error SignatureExpired(uint64 deadline, uint256 timestamp);
    /// @notice `patient` has no active consent in `studyId` to revoke.
    error NoActiveConsent(bytes32 studyId, address patient);
    /// @notice Batch arrays differ in length.
    error LengthMismatch(uint256 patients, uint256 expiries, uint256 signatures);
    /// @notice The zero address cannot be a patient.
    error ZeroPatient();

    /// @notice Emitted when a patient's signed consent is recorded.
    event ConsentGranted(
        bytes32 indexed study,
        address indexed patient,
        address indexed hospital,
        uint64 expiresAt,
        uint256 nonce
    );
    /// @notice Emitted when a patient revokes consent previously given to `hospital`.
    event ConsentRevoked(bytes32 indexed study, address indexed patient, address indexed hospital);

    /**
     * @notice Records `patient`'s signed consent for the calling hospital in `study`.
     * The signed `Consent` struct uses the patient's current nonce; a grant overwrites a revoked or
     * expired record.
     * Requirements:
     * - `study` exists and the caller is a member hospital;
     * - `signature` is the patient's EIP-712 signature of
     *   `Consent(study, patient, msg.sender, expiresAt, nonces(patient))`;
     * - `expiresAt` is 0 (never) or in the future.
     * Emits a {ConsentGranted} event.
     */
    function grantWithSig(bytes32 study, address patient, uint64 expiresAt, bytes calldata signature)
        external;

    /**
     * @notice {grantWithSig} for many patients in one transaction; all or nothing.
     * Requirements: as {grantWithSig} for each entry; the three arrays have equal lengths.
     * Emits a {ConsentGranted} event per patient.
     */
    function grantBatchWithSig(
        bytes32 study,
        address[] calldata patients,
        uint64[] calldata expiresAt,
        bytes[] calldata signatures
    ) external;

    /**
     * @notice The caller (a patient) revokes their consent in `study`.
     * Requirements: the caller has an unrevoked consent in `study` (expired ones count).
     * Emits a {ConsentRevoked} event.
     */
    function revoke(bytes32 study) external;

    /**
     * @notice Anyone relays `patient`'s signed revocation.
     * Requirements:
     * - `deadline` has not passed;
     * - `signature` is the patient's EIP-712 signature of
     *   `Revocation(study, patient, nonces(patient), deadline)`;
     * - `patient` has an unrevoked consent in `study`.
     * Emits a {ConsentRevoked} event.
     */
    function revokeWithSig(bytes32 study, address patient, uint64 deadline, bytes calldata signature)
        external;

    /// @notice The consent record of `patient` in `study` (all zero if never granted).
    function consentRecord(bytes32 study, address patient)
        external
        view
        returns (ConsentRecord memory);

    /// @notice Whether `patient` consents in `study` now: granted, not revoked, not expired.
    function isConsented(bytes32 study, address patient) external view returns (bool);

    /// @notice {isConsented} for many patients.
    function consentStatusBatch(bytes32 study, address[] calldata patients)
        external
        view
        returns (bool[] memory);

    /// @notice Block of the last revocation of one of `hospital`'s patients in `study` (0 if none).
    function lastRevocationBlock(bytes32 study, address hospital) external view returns (uint256);

    /// @notice The EIP-712 domain separator of this registry on this chain.
    // solhint-disable-next-line func-name-mixedcase
    function DOMAIN_SEPARATOR() external view returns (bytes32);
}
