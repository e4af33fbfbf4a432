// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/**
 * @title ISecAggCoordinator
 * @notice The chain as coordinator of privacy mode "secagg": each hospital's X25519 keys for a
 * study (a per-round history: a key dealt while `roundCount` was r binds rounds >= r until a later
 * key is dealt, so rotating a key never changes an earlier round's roster or seeds) and the deal of
 * its mask key, the close of a round's submissions, the survivors' reveals, and a round's abort
 * (with its reason) when fewer than the study's threshold can reveal.
 * Artifacts (key deals, reveals) live in IPFS; their SHA-256 and CID are recorded here.
 */
interface ISecAggCoordinator {
    /// @notice One epoch of a hospital's registered keys in a study. `fromRound` is the first
    /// round the epoch binds (the ledger's `roundCount` when it was dealt; 0 until then).
    struct HospitalKeys {
        bytes32 maskKey;
        bytes32 sealKey;
        uint64 epoch;
        bytes32 dealHash;
        string dealCid;
        uint256 dealtBlock;
        uint256 burnedBlock;
        uint64 fromRound;
    }

    /// @notice A round's secagg phase.
    struct RoundPhase {
        uint256 closedBlock;
        uint32 submittedAtClose;
        uint32 revealCount;
        uint256 abortedBlock;
        bytes32 abortReason;
    }

    /// @notice One survivor's published reveal.
    struct RevealRecord {
        address hospital;
        bytes32 revealHash;
        string revealCid;
        uint256 revealedBlock;
    }

    /// @notice `studyId` was never created.
    error SecAggUnknownStudy(bytes32 studyId);
    /// @notice `caller` is not the aggregator of `studyId`.
    error SecAggNotAggregator(bytes32 studyId, address caller);
    /// @notice `caller` is not a member hospital of `studyId`.
    error SecAggNotMember(bytes32 studyId, address caller);
    /// @notice The study's threshold was already set.
    error SecAggAlreadyConfigured(bytes32 studyId);
    /// @notice The study has no secagg threshold yet.
    error SecAggNotConfigured(bytes32 studyId);
    /// @notice A threshold must be at least 2.
    error InvalidThreshold(uint32 threshold);
    /// @notice A zero key or hash was given.
    error SecAggZeroValue();
    /// @notice `hospital` has no registered keys in the study.
    error NoKeysRegistered(bytes32 studyId, address hospital);
    /// @notice `hospital` already dealt its current mask key.
    error KeyAlreadyDealt(bytes32 studyId, address hospital, uint64 epoch);
    /// @notice `round` of the ledger is not open.
    error SecAggRoundNotOpen(bytes32 studyId, uint64 round);
    /// @notice `round`'s submissions are already closed.
    error SubmissionsAlreadyClosed(bytes32 studyId, uint64 round);
    /// @notice `round`'s submissions are not closed yet: there is nothing to reveal.
    error SubmissionsNotClosed(bytes32 studyId, uint64 round);
    /// @notice `hospital` submitted no update before the close, so it has nothing to reveal.
    error NotASurvivor(bytes32 studyId, uint64 round, address hospital);
    /// @notice `hospital` already revealed in `round`.
    error AlreadyRevealed(bytes32 studyId, uint64 round, address hospital);
    /// @notice `round` was aborted.
    error RoundAlreadyAborted(bytes32 studyId, uint64 round);
    /// @notice `round` can still be recovered: `count` survivors (submissions or reveals) reach
    /// the threshold.
    error ThresholdReached(bytes32 studyId, uint64 round, uint32 count, uint32 threshold);
    /// @notice Reveals may still arrive until block `until`.
    error RevealWindowOpen(bytes32 studyId, uint64 round, uint256 until);

    /// @notice Emitted when the aggregator sets the study's reconstruction threshold.
    event SecAggConfigured(bytes32 indexed studyId, uint32 threshold, uint64 revealWindow);
    /// @notice Emitted when a hospital registers a new key epoch (or replaces its undealt one).
    event KeysRegistered(
        bytes32 indexed studyId, address indexed hospital, bytes32 maskKey, bytes32 sealKey, uint64 epoch
    );
    /// @notice Emitted when a hospital publishes the deal of its mask key; the epoch binds rounds
    /// from `fromRound` on.
    event KeyDealt(
        bytes32 indexed studyId,
        address indexed hospital,
        uint64 epoch,
        uint64 fromRound,
        bytes32 dealHash,
        string dealCid
    );
    /// @notice Emitted when a dropped hospital's mask key (epoch `epoch`) becomes public: that
    /// epoch is on no later roster; the hospital may register and deal a new one.
    event KeyBurned(bytes32 indexed studyId, address indexed hospital, uint64 epoch, uint64 round);
    /// @notice Emitted when the aggregator closes a round's submissions.
    event SubmissionsClosed(bytes32 indexed studyId, uint64 indexed round, uint32 submitted);
    /// @notice Emitted when a survivor publishes its reveal.
    event SharesRevealed(
        bytes32 indexed studyId, uint64 indexed round, address indexed hospital, bytes32 revealHash, string revealCid
    );
    /// @notice Emitted when a round is aborted below the threshold.
    event SecAggRoundAborted(
        bytes32 indexed studyId, uint64 indexed round, bytes32 reason, uint32 count, uint32 threshold
    );

    /**
     * @notice Sets the study's reconstruction threshold t and how many blocks after a close
     * survivors have to reveal before the round may be aborted for want of reveals.
     * Requirements:
     * - the caller is the study's aggregator; the study has no threshold yet; `threshold` >= 2.
     * Emits a {SecAggConfigured} event.
     */
    function configure(bytes32 studyId, uint32 threshold, uint64 revealWindow) external;

    /**
     * @notice The caller (a member hospital) registers its X25519 mask and sealing keys as a new
     * epoch, to be dealt; an undealt latest epoch is replaced in place (it bound no round). Earlier
     * dealt epochs stay in the history and keep binding the rounds they bound.
     * Requirements:
     * - the caller is a member; neither key is zero.
     * Emits a {KeysRegistered} event.
     */
    function registerKeys(bytes32 studyId, bytes32 maskKey, bytes32 sealKey) external;

    /**
     * @notice The caller publishes the deal of its latest mask key (shares sealed to its peers).
     * The epoch binds rounds from the ledger's `roundCount` on (the next round to open): from it
     * on, the hospital is on the roster with these keys.
     * Requirements:
     * - the caller is a member with registered keys not dealt yet; `dealHash` is not zero.
     * Emits a {KeyDealt} event.
     */
    function dealKey(bytes32 studyId, bytes32 dealHash, string calldata dealCid) external;

    /**
     * @notice Closes `round`'s submissions: later updates are not part of the secure sum.
     * Every roster member that did not submit has the round's key epoch burned (survivors reveal
     * its mask key).
     * Requirements:
     * - the caller is the aggregator; the study is configured; the round is open on the ledger;
     *   its submissions are not closed yet.
     * Emits a {SubmissionsClosed} event, and a {KeyBurned} event per dropped roster member.
     */
    function closeSubmissions(bytes32 studyId, uint64 round) external;

    /**
     * @notice The caller (a survivor) publishes its reveal for `round`.
     * Requirements:
     * - submissions are closed and the round not aborted; the caller submitted before the close
     *   and has not revealed yet; `revealHash` is not zero.
     * Emits a {SharesRevealed} event.
     */
    function reveal(bytes32 studyId, uint64 round, bytes32 revealHash, string calldata revealCid)
        external;

    /**
     * @notice Aborts `round` with `reason` because fewer than t hospitals can take part in the
     * reconstruction: fewer than t submissions, or fewer than t reveals. The aggregator then
     * finalizes the ledger round with its base model unchanged, so the next round can open.
     * Requirements:
     * - the caller is the aggregator; submissions are closed; the round is not aborted;
     * - fewer than t submitted before the close, or fewer than t revealed and the reveal window
     *   (`revealWindow` blocks after the close) has passed.
     * Emits a {SecAggRoundAborted} event.
     */
    function abortRound(bytes32 studyId, uint64 round, bytes32 reason) external;

    /// @notice The study's threshold (0 if not configured).
    function threshold(bytes32 studyId) external view returns (uint32);

    /// @notice `hospital`'s latest key epoch in the study (all zero if none).
    function getKeys(bytes32 studyId, address hospital) external view returns (HospitalKeys memory);

    /// @notice The key epoch that binds `round` for `hospital`: the latest dealt epoch with
    /// `fromRound` <= `round` (all zero if none).
    function keysAt(bytes32 studyId, address hospital, uint64 round)
        external
        view
        returns (HospitalKeys memory);

    /// @notice Every key epoch `hospital` registered in the study, oldest first.
    function keyHistory(bytes32 studyId, address hospital)
        external
        view
        returns (HospitalKeys[] memory);

    /// @notice The members on `round`'s roster: an opened round whose binding epoch (`keysAt`)
    /// was not burned before the round opened.
    function roster(bytes32 studyId, uint64 round) external view returns (address[] memory);

    /// @notice `round`'s secagg phase.
    function getPhase(bytes32 studyId, uint64 round) external view returns (RoundPhase memory);

    /// @notice `round`'s reveals, in order.
    function getReveals(bytes32 studyId, uint64 round) external view returns (RevealRecord[] memory);
}
