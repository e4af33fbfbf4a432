// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IConsentRegistry} from "./IConsentRegistry.sol";

/**
 * @title IConsentBatches
 * @notice Enrolment at scale: a hospital records many patients' first consents in one
 * transaction whose only storage is ONE Merkle root per batch. Every patient's own EIP-712
 * `Consent` signature (nonce 0) is still recovered on chain, and a {FirstConsentGranted} event is
 * emitted per patient (with the batch's {ConsentBatchRecorded} it says everything
 * {IConsentRegistry-ConsentGranted} says, in a third of the log gas), so off-chain consent
 * indexes see every grant. The per-patient record is written lazily
 * ({materializeConsent}), by anyone holding the batch's leaves (rebuilt from its events), and is
 * needed only to revoke or narrow the consent; until then {isConsentedInBatch} answers with a
 * Merkle proof. A batch consent is live while the patient has no per-patient record: any later
 * record (a materialisation, or a grant through the ordinary path) replaces it.
 */
interface IConsentBatches {
    /// @notice One recorded batch: its Merkle root, the hospital and the block it was granted in.
    struct ConsentBatch {
        bytes32 root;
        address hospital;
        uint40 grantedBlock;
        uint32 size;
    }

    /// @notice One patient's first consent: the terms and deadline they signed, and their
    /// signature in EIP-2098 compact form (`r`, and `vs`: `s` with the parity of `v` in its top
    /// bit), so the batch is a static array: no per-entry offsets and lengths in calldata.
    struct FirstGrant {
        address patient;
        IConsentRegistry.ConsentTerms terms;
        uint64 deadline;
        bytes32 r;
        bytes32 vs;
    }

    /// @notice `patient` already has a grant nonce above 0 in `studyId`: use the ordinary path.
    error NotFirstGrant(bytes32 studyId, address patient);
    /// @notice Batch patients must be strictly ascending (so none appears twice).
    error PatientsNotAscending(uint256 index);
    /// @notice The batch is empty or holds more than `MAX_CONSENT_BATCH` patients.
    error BadBatchSize(uint256 size);
    /// @notice No batch `batchId` in `studyId`.
    error UnknownBatch(bytes32 studyId, uint256 batchId);
    /// @notice The proof does not place (`patient`, terms) in batch `batchId`.
    error NotInBatch(bytes32 studyId, address patient, uint256 batchId);
    /// @notice `patient` already has a per-patient record in `studyId`.
    error AlreadyMaterialized(bytes32 studyId, address patient);

    /**
     * @notice Emitted per patient by {grantFirstBatchWithSig}: `patient` consents with `terms`
     * (`purposes | validFrom << 64 | expiresAt << 128`) and grant nonce 0, in the study and for
     * the hospital of the {ConsentBatchRecorded} event that follows in the same transaction.
     */
    event FirstConsentGranted(address indexed patient, uint256 terms);
    /// @notice Emitted once per {grantFirstBatchWithSig}, after its patients'
    /// {FirstConsentGranted} events: batch `batchId` of `size` patients.
    event ConsentBatchRecorded(
        bytes32 indexed study, address indexed hospital, uint256 indexed batchId, bytes32 root, uint256 size
    );
    /// @notice Emitted when a batch consent is copied into `patient`'s per-patient record.
    event ConsentMaterialized(bytes32 indexed study, address indexed patient, uint256 indexed batchId);

    /**
     * @notice Records many patients' FIRST signed consents for the calling hospital, storing one
     * Merkle root. Leaf `i` is `keccak256(abi.encode(patient, terms.purposes, terms.validFrom,
     * terms.expiresAt))` of `grants[i]`; the tree pairs leaves left to right with
     * OpenZeppelin's commutative keccak (an odd last node moves up unchanged). All or nothing.
     * The hospital's {IConsentRegistry-activeConsentCount} grows by the consents that cover the
     * study's purpose.
     * Requirements:
     * - `study` exists and the caller is a member hospital;
     * - 1 to `MAX_CONSENT_BATCH` grants, their patients strictly ascending;
     * - every patient's grant nonce in `study` is 0 (no earlier grant, revocation or cancellation);
     * - each deadline has not passed, each `terms` is valid as for {IConsentRegistry-grantWithSig};
     * - each (`r`, `vs`) is its patient's EIP-712 `Consent` signature of its terms and deadline
     *   for the caller, with nonce 0.
     * Emits {FirstConsentGranted} per patient, then one {ConsentBatchRecorded}.
     * @return batchId The batch's number in `study` (from 1).
     */
    function grantFirstBatchWithSig(bytes32 study, FirstGrant[] calldata grants)
        external
        returns (uint256 batchId);

    /**
     * @notice Anyone copies `patient`'s batch consent into their per-patient record, so it can
     * be revoked or narrowed with the ordinary functions. The record gets the batch's hospital
     * and block; the grant nonce moves to 1 (the nonce-0 signature is spent).
     * Requirements: batch `batchId` exists; `proof` places (`patient`, `terms`) in it; the patient
     * has no per-patient record in `study` yet.
     * Emits a {ConsentMaterialized} event.
     */
    function materializeConsent(
        bytes32 study,
        address patient,
        uint256 batchId,
        IConsentRegistry.ConsentTerms calldata terms,
        bytes32[] calldata proof
    ) external;

    /**
     * @notice Whether `patient` consents in `study` now. With a per-patient record it answers as
     * {IConsentRegistry-isConsented} (the batch arguments are ignored); without one, whether
     * `proof` places (`patient`, `terms`) in batch `batchId` and those terms cover the study's
     * purpose and are inside their validity period. Default deny: a bad proof answers false.
     */
    function isConsentedInBatch(
        bytes32 study,
        address patient,
        uint256 batchId,
        IConsentRegistry.ConsentTerms calldata terms,
        bytes32[] calldata proof
    ) external view returns (bool);

    /// @notice Batch `batchId` of `study` (all zero if none).
    function consentBatch(bytes32 study, uint256 batchId) external view returns (ConsentBatch memory);

    /// @notice How many batches `study` has.
    function consentBatchCount(bytes32 study) external view returns (uint256);
}
