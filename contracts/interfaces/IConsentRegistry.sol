// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/**
 * @title IConsentRegistry
 * @notice Patient-signed (EIP-712) consent to let one hospital train on the patient's data in one
 * study, and its revocation. Default deny: no grant means no consent.
 */
interface IConsentRegistry {
    /**
     * @notice A patient's consent in a study. `revokedBlock` 0 means not revoked. `purposes` is
     * the DUO bitmask still granted ({DuoPurposes}); `coversStudy` whether it covers the study's
     * declared purpose (only then does the consent count). The validity period is
     * `validFrom` (0: from the grant) up to `expiresAt` (0: never).
     */
    struct ConsentRecord {
        address hospital;
        uint256 grantedBlock;
        uint256 revokedBlock;
        uint64 expiresAt;
        uint64 validFrom;
        uint64 purposes;
        bool coversStudy;
    }

    /// @notice What a patient consents to: DUO purposes and a validity period (unix seconds).
    struct ConsentTerms {
        uint64 purposes;
        uint64 validFrom;
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
    error LengthMismatch(uint256 patients, uint256 terms, uint256 deadlines, uint256 signatures);
    /// @notice `purposes` is not a consent scope (no purpose, or a bit outside the DUO layout),
    /// or, when revoking, names a purpose the consent does not grant.
    error InvalidPurposes(uint64 purposes);
    /// @notice The validity period is empty: `validFrom` is not before `expiresAt`.
    error InvalidValidity(uint64 validFrom, uint64 expiresAt);
    /// @notice The zero address cannot be a patient.
    error ZeroPatient();
    /// @notice Revocation batch arrays differ in length.
    error RevocationBatchMismatch(uint256 patients, uint256 deadlines, uint256 signatures);

    /// @notice Emitted when a patient's signed consent is recorded.
    event ConsentGranted(
        bytes32 indexed study,
        address indexed patient,
        address indexed hospital,
        uint64 expiresAt,
        uint256 nonce,
        uint64 purposes,
        uint64 validFrom
    );
    /// @notice Emitted when a patient revokes consent previously given to `hospital`.
    event ConsentRevoked(bytes32 indexed study, address indexed patient, address indexed hospital);
    /// @notice Emitted when a patient withdraws some purposes of their consent; `remaining` are
    /// still granted (withdrawing the last one emits {ConsentRevoked} instead).
    event ConsentPurposesRevoked(
        bytes32 indexed study,
        address indexed patient,
        address indexed hospital,
        uint64 revoked,
        uint64 remaining
    );
    /**
     * @notice Emitted by {revokeBatchWithSig} for an entry it did not apply; `reason` is the
     * selector of the error {revokeWithSig} would have reverted with ({SignatureExpired},
     * {NoActiveConsent} or {InvalidSigner}). Nothing changed for that patient.
     */
    event RevocationSkipped(bytes32 indexed study, address indexed patient, bytes4 reason);
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
     * ({grantNonce}); a grant overwrites a revoked or expired record. The consent counts only
     * if its purposes cover the study's declared purpose; then the hospital's count of
     * active consents ({activeConsentCount}) grows by one, unless the patient already had a
     * counted consent with it (a renewal; a renewal that no longer covers the purpose lowers
     * the count and moves {lastRevocationBlock}); a grant moving the patient from another
     * hospital revokes that consent first (emitting {ConsentRevoked}) and moves the count.
     * Requirements:
     * - `study` exists and the caller is a member hospital;
     * - `deadline` has not passed (a signature left unsubmitted dies with it);
     * - `signature` is the patient's EIP-712 signature of
     *   `Consent(study, patient, msg.sender, purposes, validFrom, expiresAt,
     *   grantNonce(study, patient), deadline)` with the fields of `terms`;
     * - `terms.purposes` is a valid DUO scope ({DuoPurposes});
     * - `terms.expiresAt` is 0 (never) or in the future, and after `terms.validFrom`.
     * Emits a {ConsentGranted} event.
     */
    function grantWithSig(
        bytes32 study,
        address patient,
        ConsentTerms calldata terms,
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
        ConsentTerms[] calldata terms,
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
     * @notice Anyone relays many patients' signed revocations in one transaction. Each entry is
     * checked exactly as {revokeWithSig} checks it (deadline, the patient's own EIP-712
     * `Revocation` signature over their current {revocationNonce}, an unrevoked consent). An
     * entry that fails is skipped, not reverted: its nonce is not used, nothing changes for that
     * patient, and a {RevocationSkipped} event names the patient and the reason, so one bad
     * signature neither sinks the other patients' revocations nor disappears silently. A
     * patient named twice is revoked once (the second entry is skipped, {NoActiveConsent}).
     * Requirements:
     * - `patients`, `deadlines` and `signatures` have the same length.
     * Emits a {ConsentRevoked} event per revoked patient, a {RevocationSkipped} per skipped one.
     * @return revoked How many entries were applied.
     */
    function revokeBatchWithSig(
        bytes32 study,
        address[] calldata patients,
        uint64[] calldata deadlines,
        bytes[] calldata signatures
    ) external returns (uint256 revoked);

    /**
     * @notice The caller (a patient) withdraws `purposes` from their consent in `study`; the
     * rest stays granted. If what remains no longer covers the study's purpose the consent stops
     * counting: the hospital's {activeConsentCount} drops and its {lastRevocationBlock} moves,
     * exactly as for a revocation. Withdrawing every purpose is a revocation ({revoke}). Like a
     * revocation it cancels pending consent signatures.
     * Requirements: the caller has an unrevoked consent in `study`; `purposes` is not empty and
     * names only purposes (not NMDS) the consent grants.
     * Emits a {ConsentPurposesRevoked} event, or {ConsentRevoked} when nothing remains.
     */
    function revokePurposes(bytes32 study, uint64 purposes) external;

    /**
     * @notice Anyone relays `patient`'s signed withdrawal of some purposes ({revokePurposes}).
     * Requirements:
     * - `deadline` has not passed;
     * - `signature` is the patient's EIP-712 signature of
     *   `PurposeRevocation(study, patient, purposes, revocationNonce(study, patient), deadline)`;
     * - as {revokePurposes}.
     * Emits a {ConsentPurposesRevoked} event, or {ConsentRevoked} when nothing remains.
     */
    function revokePurposesWithSig(
        bytes32 study,
        address patient,
        uint64 purposes,
        uint64 deadline,
        bytes calldata signature
    ) external;

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
     * @notice How many patients have an unrevoked consent with `hospital` in `study` that covers
     * the study's purpose: the bound on the patient count a hospital may commit with an update.
     * Expired (or not yet valid) but unrevoked consents still count (the contract cannot see time pass without a transaction): it is an upper
     * bound, and the audit checks the exact count at the update's consent block.
     */
    function activeConsentCount(bytes32 study, address hospital) external view returns (uint256);

    /// @notice The consent record of `patient` in `study` (all zero if never granted).
    function consentRecord(bytes32 study, address patient)
        external
        view
        returns (ConsentRecord memory);

    /// @notice Whether a consent with DUO `scope` covers a study with DUO `purpose`.
    function purposesCover(uint64 scope, uint64 purpose) external pure returns (bool);

    /// @notice Whether `patient` consents in `study` now: granted, not revoked, covering the
    /// study's purpose, and inside its validity period.
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
