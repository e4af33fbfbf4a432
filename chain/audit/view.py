"""The audit's read-only ledger view: one study's history at one block, as the checks see it.

Checks depend on `AuditView` (a Protocol of reads only), never on the facades: they cannot send a
transaction or write to the store, and a unit test can hand them a history no honest contract
would accept (a forked or lying node) to show what each check catches. `LedgerView.read` takes
the snapshot from a deployment: every round and its updates, the study's consent, membership and
submission events up to the block (with the timestamps of the blocks updates landed in), the
DatasetInventory's thresholds and members' offers (`dataset_view`), with read-only access to the
artifacts and published proofs. The three contracts' logs (and the Contributions contract's) are
read once over all their addresses (`logs`); the rounds and the contribution records are rebuilt
from them (`rounds_view`, `Contributions.snapshot_of_events`), facts only storage holds (round
count, cumulative values, budgets, secagg, datasets, rollbacks) by view call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from chain.audit.dataset_view import DatasetSnapshot, current_members, read_datasets
from chain.audit.logs import read_events
from chain.audit.rounds_view import read_rounds
from chain.audit.secagg_view import read_secagg_rounds
from chain.contributions import ContributionsSnapshot
from chain.deploy import Ledger
from chain.errors import UnknownStudyError
from chain.events import HospitalAdded, HospitalRemoved, LedgerEvent, UpdateSubmitted
from chain.exclusions import ExclusionFileError, ExclusionProofs, ProofEntry, PublishedProof
from chain.store import ArtifactReader
from chain.store.errors import ArtifactNotFoundError, CorruptArtifactError, InvalidCidError
from consent.events import ConsentGranted, ConsentRevoked, EventPosition, PurposesRevoked
from consent.formats import FormatError
from consent.formats.revocation import RevocationPolicy, RevocationPolicyError
from consent.formats.study_plan import PlanDocument
from consent.ids import Address, Bytes32, StudyId
from consent.lineage import RollbackRecord
from consent.privacy import BudgetSnapshot
from consent.purposes import StudyPurpose
from consent.records import RoundRecord
from consent.rounds import RoundState, UpdateRecord
from consent.secagg.records import SecAggRoundRecord

__all__ = ["AuditView", "ConsentEvent", "LedgerView", "MembershipEvent"]

ConsentEvent = ConsentGranted | ConsentRevoked | PurposesRevoked
MembershipEvent = HospitalAdded | HospitalRemoved


class AuditView(Protocol):
    """One study's history up to `block`, read-only."""

    @property
    def study(self) -> StudyId:
        """The audited study."""
        ...

    @property
    def block(self) -> int:
        """The block the history was read at."""
        ...

    @property
    def rounds(self) -> Sequence[RoundRecord]:
        """Rounds 0..n-1 as recorded on chain, each with its updates (`consent.records`)."""
        ...

    def updates(self, round_: int) -> Sequence[UpdateRecord]:
        """The updates recorded in `round_`, in submission order."""
        ...

    @property
    def consent_events(self) -> Sequence[ConsentEvent]:
        """The study's grants, revocations and withdrawals of purposes, in chain order."""
        ...

    @property
    def study_purpose(self) -> StudyPurpose | None:
        """The study's declared DUO purpose (None: undeclared, every consent covers it)."""
        ...

    @property
    def membership_events(self) -> Sequence[MembershipEvent]:
        """The study's admissions and removals of hospitals, in chain order."""
        ...

    def submission(self, round_: int, hospital: Address) -> EventPosition | None:
        """Where the `UpdateSubmitted` event of `hospital` in `round_` is, if there is one."""
        ...

    def submitted_at(self, round_: int, hospital: Address) -> int | None:
        """The timestamp of the block `hospital`'s update of `round_` landed in, if known."""
        ...

    @property
    def artifacts(self) -> ArtifactReader:
        """The artifact store, for reads."""
        ...

    def proof(self, hospital: Address, data_root: Bytes32, patient: Address) -> ProofEntry | None:
        """The published proof that `patient` is absent from `data_root`, if any."""
        ...

    @property
    def proof_errors(self) -> Sequence[ExclusionFileError]:
        """Proof files that claim the format but could not be read."""
        ...

    @property
    def proof_files(self) -> Sequence[PublishedProof]:
        """Every published proof file of this study, duplicates included, in load order."""
        ...

    def secagg(self, round_: int) -> SecAggRoundRecord | None:
        """`round_`'s public secagg transcript on chain, if the study runs in mode "secagg"."""
        ...

    @property
    def budget(self) -> BudgetSnapshot | None:
        """The study's privacy budget (None unless it is a dp-mode study)."""
        ...

    @property
    def contributions(self) -> ContributionsSnapshot | None:
        """The Contributions contract's records of the finalized rounds (issue 15); None for a
        deployment without that contract."""
        ...

    @property
    def datasets(self) -> DatasetSnapshot | None:
        """The study's admission thresholds and members' offered cards (None: no thresholds)."""
        ...

    @property
    def rollbacks(self) -> Mapping[int, RollbackRecord]:
        """The study's rollback rounds on chain, by round (issue 16; empty: none)."""
        ...

    @property
    def revocation_policy(self) -> RevocationPolicy | None:
        """The plan's revocation policy (None: the plan's section is malformed; "forward" when
        the plan itself cannot be read)."""
        ...

    def block_time(self, block: int) -> int | None:
        """The timestamp of `block`, if the view read it (update and finalization blocks)."""
        ...


@dataclass(frozen=True, slots=True)
class LedgerView:
    """A snapshot satisfying `AuditView` (built by `read`, or by hand in tests)."""

    study: StudyId
    block: int
    rounds: tuple[RoundRecord, ...]
    consent_events: tuple[ConsentEvent, ...]
    membership_events: tuple[MembershipEvent, ...]
    submissions: Mapping[tuple[int, str], EventPosition]
    artifacts: ArtifactReader
    published: ExclusionProofs
    block_times: Mapping[int, int] = field(default_factory=dict)
    """Block number -> timestamp, for the blocks updates landed in (the expiry rule's input)."""
    study_purpose: StudyPurpose | None = None
    secagg_rounds: Mapping[int, SecAggRoundRecord] = field(default_factory=dict)

    def secagg(self, round_: int) -> SecAggRoundRecord | None:
        """`round_`'s secagg record (None in mode "sealed")."""
        return self.secagg_rounds.get(round_)

    budget: BudgetSnapshot | None = None
    contributions: ContributionsSnapshot | None = None
    datasets: DatasetSnapshot | None = None
    """The inventory's thresholds and members' offers (issue 18); None without thresholds."""
    rollbacks: Mapping[int, RollbackRecord] = field(default_factory=dict)
    revocation_policy: RevocationPolicy | None = field(default_factory=RevocationPolicy)

    def block_time(self, block: int) -> int | None:
        """The timestamp of `block` if read."""
        return self.block_times.get(block)

    def updates(self, round_: int) -> Sequence[UpdateRecord]:
        """The updates recorded in `round_`."""
        return self.rounds[round_].updates

    def submission(self, round_: int, hospital: Address) -> EventPosition | None:
        """Where `hospital`'s `UpdateSubmitted` event of `round_` is."""
        return self.submissions.get((round_, hospital.lower()))

    def submitted_at(self, round_: int, hospital: Address) -> int | None:
        """The timestamp of the block of `hospital`'s update of `round_` (None if unknown)."""
        position = self.submission(round_, hospital)
        return None if position is None else self.block_times.get(position.block_number)

    def proof(self, hospital: Address, data_root: Bytes32, patient: Address) -> ProofEntry | None:
        """The published non-membership proof, if any."""
        return self.published.lookup(self.study, hospital, data_root, patient)

    @property
    def proof_errors(self) -> Sequence[ExclusionFileError]:
        """Unreadable proof files."""
        return tuple(self.published.errors)

    @property
    def proof_files(self) -> Sequence[PublishedProof]:
        """Every published proof file of this study."""
        return tuple(f for f in self.published.files if f.study == bytes(self.study))

    @classmethod
    def read(
        cls, ledger: Ledger, artifacts: ArtifactReader, proofs: ExclusionProofs, study: StudyId
    ) -> LedgerView:
        """Read `study`'s history from `ledger` at its latest block.

        Raises `UnknownStudyError` for an unknown study, `ChainUnavailableError` when the node is
        down.
        """
        if not ledger.studies.study_exists(study):
            raise UnknownStudyError({"study_id": bytes(study)})
        block = ledger.chain.block_number()
        facades = (ledger.consents, ledger.studies, ledger.rounds)
        consent_logs, study_logs, round_logs, *contribution_logs = read_events(
            ledger.chain,
            facades if ledger.contributions is None else (*facades, ledger.contributions),
            ledger.manifest.deploy_block,
            block,
        )
        rounds = read_rounds(ledger.rounds, study, round_logs)
        consent = tuple(
            e
            for e in consent_logs
            if isinstance(e, ConsentGranted | ConsentRevoked | PurposesRevoked) and e.study == study
        )
        membership = tuple(
            e
            for e in study_logs
            if isinstance(e, HospitalAdded | HospitalRemoved) and e.study == study
        )
        submissions = {
            (e.round, e.hospital.lower()): e.position
            for e in round_logs
            if isinstance(e, UpdateSubmitted) and e.study == study
        }
        blocks = {p.block_number for p in submissions.values()}
        blocks |= {r.finalized_block for r in rounds if r.state is RoundState.FINALIZED}
        times = ledger.chain.block_timestamps(blocks)
        purpose = ledger.studies.study_purpose(study)
        secagg = read_secagg_rounds(ledger, artifacts, study, len(rounds))
        budget = _budget(ledger, study, rounds, membership)
        contributions = _contributions(ledger, study, rounds, contribution_logs)
        datasets = read_datasets(ledger.datasets, study, current_members(membership))
        return cls(
            study,
            block,
            rounds,
            consent,
            membership,
            submissions,
            artifacts,
            proofs,
            times,
            purpose,
            secagg,
            budget,
            contributions,
            datasets,
            {} if ledger.rollbacks is None else ledger.rollbacks.rollbacks(study),
            _revocation_policy(ledger, artifacts, study),
        )


def _revocation_policy(
    ledger: Ledger, artifacts: ArtifactReader, study: StudyId
) -> RevocationPolicy | None:
    """The plan's policy; None when the plan's revocation section is malformed (the `lineage`
    check then fails). A plan that is not in the store or not a study plan at all reads as
    "forward": no trainer could have run it, and there is no window to check."""
    cid = ledger.studies.get_study(study).metadata_cid
    try:
        plan = PlanDocument.from_json_bytes(artifacts.get(cid))
    except (FormatError, ArtifactNotFoundError, CorruptArtifactError, InvalidCidError):
        return RevocationPolicy()
    try:
        return RevocationPolicy.from_extensions(plan.extensions)
    except RevocationPolicyError:
        return None


def _contributions(
    ledger: Ledger,
    study: StudyId,
    rounds: Sequence[RoundRecord],
    logs: Sequence[Sequence[LedgerEvent]],
) -> ContributionsSnapshot | None:
    """The finalized rounds' contribution records, rebuilt from the contract's events
    (`Contributions.snapshot_of_events`); None for a deployment without the contract."""
    if ledger.contributions is None:
        return None
    participants = {
        r.round: [u.hospital for u in r.updates] for r in rounds if r.state is RoundState.FINALIZED
    }
    return ledger.contributions.snapshot_of_events(study, logs[0], participants)


def _budget(
    ledger: Ledger,
    study: StudyId,
    rounds: Sequence[RoundRecord],
    membership: Sequence[MembershipEvent],
) -> BudgetSnapshot | None:
    """The study's budget: every (round, hospital) charge of every hospital ever admitted."""
    if ledger.budget is None:
        return None
    record = ledger.budget.record(study)
    if record is None:
        return None
    hospitals = sorted({e.hospital for e in membership if isinstance(e, HospitalAdded)})
    charges = {
        (r.round, h): charged
        for r in rounds
        for h in hospitals
        if (charged := ledger.budget.charged(study, r.round, h)) is not None
    }
    spent = {h: ledger.budget.spent(study, h) for h in hospitals}
    return BudgetSnapshot(record, charges, spent)
