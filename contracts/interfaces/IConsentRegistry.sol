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
    /// @notice A signature's `deadline` (consent, revocation or cancellation) has passed.
    error SignatureExpired(uint64 deadline, uint256 timestamp);
    /// @notice `patient` has no active consent in `studyId` to revoke.
    error NoActiveConsent(bytes32 studyId, address patient);
    /// @notice Batch arrays differ in length.
    error LengthMismatch(
        uint256 patients, uint256 expiries, uint256 deadlines, uint256 signatures
    );
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
     * @notice Emitted when a patient cancels every consent signature not yet submitted in
     * `study`: grant nonces below `nextGrantNonce` can no longer be used.
     */
    event PendingConsentsCancelled(
        bytes32 indexed study, address indexed patient, uint256 nextGrantNonce
    );

    /**
     * @notice Records `patient`'s signed consent for the calling hospital in `study`.
     * The signed `Consent` struct uses the patient's current grant nonce in `study`
     * ({grantNonce}); a grant overwrites a revoked or expired record. The hospital's count of
     * active consents ({activeConsentCount}) grows by one, unless the patient already had an
     * unrevoked consent with it (a renewal); a grant moving the patient from another hospital
     * revokes that consent first (emitting {ConsentRevoked}) and moves the count.
     * Requirements:
     * - `study` exists and the caller is a member hospital;
     * - `deadline` has not passed (a signature left unsubmitted dies with it);
     * - `signature` is the patient's EIP-712 signature of
     *   `Consent(study, patient, msg.sender, expiresAt, grantNonce(study, patient), deadline)`;
     * - `expiresAt` is 0 (never) or in the future.
     * Emits a {ConsentGranted} event.
     */
    function grantWithSig(
        bytes32 study,
        address patient,
        uint64 expiresAt,
        uint64 deadline,
        bytes calldata signature
    ) external;

    /**
     * @notice {grantWithSig} for many patients in one transaction; all or nothing.
     * Requirements: as {grantWithSig} for each entry; the four arrays have equal lengths.
     * Emits a {ConsentGranted} event per patient.
     */
    function grantBatchWithSig(
        bytes32 study,
        address[] calldata patients,
        uint64[] calldata expiresAt,
        uint64[] calldata deadlines,
        bytes[] calldata signatures
    ) external;

    /**
     * @notice The caller (a patient) revokes their consent in `study`. Revoking also cancels
     * every consent signature not yet submitted (the grant nonce moves on), so a hospital
     * holding one cannot restore the consent.
     * Requirements: the caller has an unrevoked consent in `study` (expired ones count).
     * Emits a {ConsentRevoked} event.
     */
    function revoke(bytes32 study) external;

    /**
     * @notice Anyone relays `patient`'s signed revocation. The revocation nonce is the
     * patient's own ({revocationNonce}): no hospital can consume it, so no hospital can block a
     * revocation by submitting another of the patient's signatures first.
     * Requirements:
     * - `deadline` has not passed;
     * - `signature` is the patient's EIP-712 signature of
     *   `Revocation(study, patient, revocationNonce(study, patient), deadline)`;
     * - `patient` has an unrevoked consent in `study`.
     * Emits a {ConsentRevoked} event.
     */
    function revokeWithSig(bytes32 study, address patient, uint64 deadline, bytes calldata signature)
        external;

    /**
     * @notice The caller (a patient) cancels every consent signature for `study` that no
     * hospital has submitted yet. An already recorded consent is not touched (use {revoke}).
     * Emits a {PendingConsentsCancelled} event.
     */
    function cancelPendingConsents(bytes32 study) external;

    /**
     * @notice Anyone relays `patient`'s signed cancellation of their pending consent signatures.
     * Requirements:
     * - `deadline` has not passed;
     * - `signature` is the patient's EIP-712 signature of
     *   `Cancellation(study, patient, revocationNonce(study, patient), deadline)`.
     * Emits a {PendingConsentsCancelled} event.
     */
    function cancelPendingConsentsWithSig(
        bytes32 study,
        address patient,
        uint64 deadline,
        bytes calldata signature
    ) external;

    /// @notice The nonce the patient's next `Consent` signature in `study` must carry.
    function grantNonce(bytes32 study, address patient) external view returns (uint256);

    /// @notice The nonce the patient's next `Revocation` or `Cancellation` in `study` must carry.
    function revocationNonce(bytes32 study, address patient) external view returns (uint256);

    /**
     * @notice How many patients have an unrevoked consent with `hospital` in `study`: the bound
     * on the patient count a hospital may commit with an update. Expired but unrevoked consents
     * still count (the contract cannot see time pass without a transaction): it is an upper
     * bound, and the audit checks the exact count at the update's consent block.
     */
    function activeConsentCount(bytes32 study, address hospital) external view returns (uint256);

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
