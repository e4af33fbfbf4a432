"""The trainer role: one hospital's side of the round protocol.

For the latest round, while it is open and this hospital has not submitted to it:

1. fetch the base model by CID and check its SHA-256 against the ledger (a mismatch is an error
   and the bytes are never used);
2. sync the consent index to the latest block `b` and keep only rows whose patient consents at
   `b` with this hospital (`fl.roles.selection`);
3. compute the plan's learner's local step on those rows reproducibly, so an auditor can replay
   it (`fl.roles.replay.local_payload`), serialize it with its update envelope, encode it with
   the plan's codec (`fl.codecs`; sealed to the aggregator and the plan's auditor keys), store it;
4. submit with `consentBlock = b`, `dataRoot` = the sparse Merkle root (`consent.smt`) over the
   distinct patients used and `numPatients` = their number (the aggregation weight). If the
   ledger refuses the update as stale (a revocation of one of this hospital's patients landed
   after `b`), resync; retrain without the revoked patients if any of them were used, else
   resubmit the same update with the fresh block.

The round record (patients used, rows dropped and why) is persisted before every submission, so
a restarted trainer keeps the patient lists behind every `dataRoot` it committed; it resumes from
the ledger (a round it already submitted to is not trained again). Consent is read through the
consent-view port (`fl.ports.ConsentViewPort`), and `run()` is the shared role loop
(`fl.roles.loop`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Final

from torch import Tensor

from consent.errors import StaleConsentError
from consent.formats.privacy import PrivacyMode
from consent.ids import Address, StudyId
from consent.privacy import BudgetExhaustedError
from consent.purposes import StudyPurpose
from consent.smt import DataTree
from fl.attacks import Attack, armed_train_fn
from fl.data import HospitalDataset
from fl.errors import NoTrainingDataError
from fl.models import ModelSpec
from fl.ports import (
    ArtifactStorePort,
    ConsentViewPort,
    LedgerPort,
    PrivacyBudgetPort,
    RoundPipelinePort,
    RoundRecord,
    RoundState,
    SecAggPort,
    StudyRecord,
)
from fl.roles.artifacts import fetch_verified, sha256, store_artifact
from fl.roles.budget import BudgetGate
from fl.roles.errors import ConsentRetryExhaustedError
from fl.roles.local_update import hospital_secagg, local_update
from fl.roles.loop import run_role
from fl.roles.membership import Membership
from fl.roles.overlap import overlapped
from fl.roles.plan import StudyPlan
from fl.roles.proofs import (
    ExclusionProof,
    patients_needing_proofs,
    proofs_for,
    write_proof_files,
)
from fl.roles.records import PreparedUpdate, RoundUsage, TrainerOutcome, UsageBook
from fl.roles.secagg_hospital import NotOnRosterError, SecAggHospital
from fl.roles.selection import Selection, select_synced
from fl.roles.study_data import load_hospital_data
from fl.serialize import bytes_to_state_dict
from fl.train import LocalResult, LocalTrainingConfig, train_local

__all__ = ["TrainFn", "Trainer", "TrainerOutcome", "sha256"]

logger = logging.getLogger(__name__)

TrainFn = Callable[
    [ModelSpec, Mapping[str, Tensor], HospitalDataset, LocalTrainingConfig], LocalResult
]
EXPIRY_MARGIN_S: Final = 3_600
"""A consent expiring within this many seconds of the consent view is left out: expiry counts
like revocation, and the audit asks for an exclusion proof from every update that lands after a
used patient's `expiresAt` (the update lands a few blocks after the view)."""


class Trainer:
    """A hospital's trainer: `step()` for embedded mode, `run()` to poll in process mode."""

    def __init__(
        self,
        *,
        study: bytes,
        ledger: LedgerPort,
        store: ArtifactStorePort,
        consent: ConsentViewPort,
        dataset: HospitalDataset,
        state_dir: Path,
        plan: StudyPlan | None = None,
        train_fn: TrainFn | None = None,
        max_stale_retries: int = 5,
        require_mode: PrivacyMode = PrivacyMode.SEALED,
        budget: PrivacyBudgetPort | None = None,
        attack: Attack | None = None,
        allow_attacks: bool = False,
        secagg: SecAggPort | None = None,
    ) -> None:
        # `attack`: a simulated malicious hospital (bench and tests only, fl.attacks): opt-in
        if attack is not None:
            armed_train_fn(attack, train_fn or train_local, allowed=allow_attacks)
        self._attack = attack
        self.study = StudyId(bytes(study))
        self._budget = budget
        """dp mode: the privacy budget (None: the ledger, if it serves that port too)."""
        self._ledger = ledger
        self._store = store
        self._consent = consent
        self._dataset = dataset
        self._state_dir = Path(state_dir)
        self._plan = plan
        self._train_fn = train_fn
        """None: the plan's learner's local step."""
        self._max_stale_retries = max_stale_retries
        self._require_mode = require_mode
        """The weakest privacy mode this hospital takes part in (`PrivacyModeTooWeakError`)."""
        self._skipped: set[int] = set()
        self._settled: int | None = None
        """The latest round this trainer is done with (see `_latest_round`)."""
        self._template: dict[str, Tensor] | None = None
        self._membership = Membership(self._ledger, self.study)
        self._usages = UsageBook(self._state_dir)
        self._secagg_port = secagg
        """Privacy mode "secagg": the coordinator (None: the ledger, if it serves that port)."""
        self._secagg: SecAggHospital | None = None

    @property
    def hospital(self) -> Address:
        """This hospital's address (the ledger sender)."""
        return self._ledger.sender

    @property
    def dataset(self) -> HospitalDataset:
        """The hospital's rows (all of them: consent filtering happens per round)."""
        return self._dataset

    @dataset.setter
    def dataset(self, dataset: HospitalDataset) -> None:
        """Replace the rows (e.g. new records arrived); used from the next round on."""
        self._dataset = dataset

    def reload_data(self, path: Path) -> HospitalDataset:
        """Read `path` through the study's schema and use it from the next round on; a file that
        does not match raises (`SchemaMismatchError`) and the current rows stay."""
        self._dataset = load_hospital_data(path, self.plan())
        return self._dataset

    @property
    def usages(self) -> dict[int, RoundUsage]:
        """Every round this trainer prepared an update for, by round (persisted)."""
        return dict(self._usages.by_round)

    def plan(self) -> StudyPlan:
        """The study's plan, read once from the study's metadata artifact."""
        if self._plan is None:
            record = self._ledger.study(self.study)
            self._plan = StudyPlan.from_json_bytes(self._store.get(record.metadata_cid))
        self._plan.privacy.require(self._require_mode)
        return self._plan

    # --- protocol ---------------------------------------------------------------------------

    def pending_round(self) -> RoundRecord | None:
        """The open round this hospital still has to submit to, if any."""
        record = self._latest_round()
        if record is None or record.state != RoundState.OPEN or record.round in self._skipped:
            return None
        mine = [u for u in record.updates if u.hospital == self.hospital]
        if mine:
            self._usages.reconcile(
                record.round, mine[0].data_root, mine[0].consent_block, mine[0].submitted_block
            )
            self._settled = record.round
            return None
        return record

    def _latest_round(self) -> RoundRecord | None:
        """The latest round, or None when it is one this trainer is already done with.

        Once this trainer settled round `r` (submitted, found its update, or skipped), only
        round `r + 1` can be new: rounds open strictly in sequence and only after the previous
        one is finalized, so an open `r + 1` is the latest round and a never-opened one means
        `r` still is. Only when `r + 1` is finalized (rounds passed) is the latest round read.
        """
        if self._settled is not None:
            following = self._ledger.round(self.study, self._settled + 1)
            if following.state == RoundState.OPEN:
                return following
            if following.state == RoundState.NONE:
                return None
        if isinstance(self._ledger, RoundPipelinePort):
            return self._ledger.latest_round(self.study)  # one read
        count = self._ledger.round_count(self.study)
        return None if count == 0 else self._ledger.round(self.study, count - 1)

    def secagg(self) -> SecAggHospital | None:
        """Modes "secagg", "dp+secagg": this hospital's keys, masked updates and reveals."""
        if self._secagg is None:
            self._secagg = hospital_secagg(
                self.plan(), study=self.study, ledger=self._ledger, store=self._store,
                port=self._secagg_port, state_dir=self._state_dir,
            )  # fmt: skip
        return self._secagg

    def step(self) -> TrainerOutcome | None:
        """Train for and submit to the open round if not done yet; None if nothing to do. In
        modes with secure aggregation, first set up the keys, and reveal for the last round
        submitted to."""
        secagg = self.secagg()
        if secagg is not None and not secagg.take_part(self._usages.by_round):
            return None
        record = self.pending_round()
        if record is None:
            return None
        return self.train_round(record)

    def train_round(self, record: RoundRecord) -> TrainerOutcome:
        """Run the protocol for `record` (an open round) and submit, handling stale consent."""
        study, members = self._membership.start(read_first=self.plan().dp is not None)
        gate = BudgetGate.for_study(self.plan().dp, self._ledger, self.study, self._budget)
        try:
            if gate is not None:  # dp mode: refuse an unaffordable round before training
                gate.check(record.round, self.hospital)
            # the consent sync overlaps the base model's fetch (and, once a member, the members')
            (base, study), selection = overlapped(
                lambda: (self._base_state(record), members()),
                lambda: self._select(study.purpose),
            )
            self._membership.confirm(study)
            prepared = self._prepare(record.round, study, base, selection, retrained=0)
            if gate is not None:
                gate.charge(record.round, self.hospital)
        except NoTrainingDataError:
            return self._skip(record.round, "no consented rows")
        except (BudgetExhaustedError, NotOnRosterError) as exc:
            return self._skip(record.round, str(exc))
        stale = 0
        while True:
            try:
                block = self._ledger.submit_update(self.study, record.round, prepared.submission)
            except StaleConsentError as exc:
                stale += 1
                logger.info(
                    "round %d: update refused as stale (consent block %d < last revocation %d)",
                    record.round,
                    exc.consent_block,
                    exc.last_revocation_block,
                )
                if stale > self._max_stale_retries:
                    raise ConsentRetryExhaustedError(record.round, stale) from exc
                fresh = self._select(study.purpose)
                lost = set(prepared.usage.patients) - set(fresh.patients)
                try:
                    prepared = self._after_stale(record.round, study, base, prepared, fresh, lost)
                except NoTrainingDataError:
                    return self._skip(record.round, "no consented rows after revocations")
                continue
            usage = replace(prepared.usage, submitted_block=block)
            self._usages.persist(usage)
            self._settled = max(record.round, self._settled or 0)
            logger.info(
                "round %d: submitted %d rows of %d patients at consent block %d",
                record.round,
                usage.num_samples,
                len(usage.patients),
                usage.consent_block,
            )
            return TrainerOutcome(record.round, usage, stale, usage.retrained)

    def _after_stale(
        self,
        round_: int,
        study: StudyRecord,
        base: Mapping[str, Tensor],
        prepared: PreparedUpdate,
        fresh: Selection,
        lost: set[Address],
    ) -> PreparedUpdate:
        if lost:
            logger.info("round %d: %d used patient(s) lost consent: retraining", round_, len(lost))
            return self._prepare(round_, study, base, fresh, retrained=prepared.usage.retrained + 1)
        usage = replace(prepared.usage, consent_block=fresh.block)
        self._usages.persist(usage)
        return PreparedUpdate(usage, prepared.update_hash)

    def run(
        self,
        *,
        poll_interval: float = 1.0,
        until_round: int | None = None,
        stop: threading.Event | None = None,
        on_outcome: Callable[[TrainerOutcome], None] | None = None,
    ) -> list[TrainerOutcome]:
        """Poll the ledger and take part in every round until `stop` is set or, with
        `until_round`, until round `until_round - 1` is finalized. Transient failures (node or
        store down) are logged and retried; 20 in a row are raised."""
        return run_role(
            "trainer",
            self.step,
            lambda: until_round is not None and self._finished(until_round),
            poll_interval=poll_interval,
            stop=stop,
            on_outcome=on_outcome,
        )

    def _finished(self, until_round: int) -> bool:
        count = self._ledger.round_count(self.study)
        if count < until_round:
            return False
        return self._ledger.round(self.study, until_round - 1).state == RoundState.FINALIZED

    # --- pieces -------------------------------------------------------------------------------

    def _skip(self, round_: int, reason: str) -> TrainerOutcome:
        logger.warning("round %d: not submitting: %s", round_, reason)
        self._skipped.add(round_)
        self._settled = max(round_, self._settled or 0)
        return TrainerOutcome(round_, None, skipped=reason)

    def _base_state(self, record: RoundRecord) -> dict[str, Tensor]:
        data = fetch_verified(self._store, record.base_model_cid, record.base_model_hash)
        if self._template is None:
            self._template = self.plan().initial_state()
        return bytes_to_state_dict(data, expected=self._template)

    def _select(self, purpose: StudyPurpose | None) -> Selection:
        return select_synced(
            self._consent, self._ledger, self.study, self._dataset, purpose, EXPIRY_MARGIN_S
        )

    def _prepare(
        self,
        round_: int,
        study: StudyRecord,
        base: Mapping[str, Tensor],
        selection: Selection,
        *,
        retrained: int,
    ) -> PreparedUpdate:
        plan = self.plan()
        subset = self._dataset.select(selection.rows)
        if len(subset) == 0:
            raise NoTrainingDataError("every row was dropped by consent")
        update = local_update(  # sealed or masked, per the privacy mode (fl.roles.local_update)
            plan, base, subset, study=study, round_=round_, hospital=self.hospital,
            patients=len(selection.patients), state_dir=self._state_dir, secagg=self.secagg(),
            train=self._train_fn, attack=self._attack,
        )  # fmt: skip
        local, encoded = update.local, update.encoded
        stored = store_artifact(self._store, encoded)
        usage = RoundUsage(
            study=self.study,
            hospital=self._ledger.sender,
            round=round_,
            consent_block=selection.block,
            data_root=DataTree.build(selection.patients).root,
            update_cid=stored.cid,
            num_samples=local.result.num_samples,
            patients=selection.patients,
            dropped_rows=dict(selection.dropped_rows),
            dropped_patients=dict(selection.dropped_patients),
            retrained=retrained,
        )
        self._usages.persist(usage)
        return PreparedUpdate(usage, stored.hash)

    # --- exclusion proofs ---------------------------------------------------------------------

    def exclusion_proofs(self, patient: str) -> list[ExclusionProof]:
        """Non-membership proofs of `patient` against every data root this hospital committed
        with a consent block at or after the patient's latest revocation (none if not revoked);
        in an `unlearn` study, against every data root the patient is absent from (lineage)."""
        return self._proofs([patient])

    def write_exclusion_proofs(self, out_dir: Path) -> list[Path]:
        """Proof files for every revoked patient of this hospital (and every patient whose
        consent carries a validity period or was ever granted or narrowed), under
        `out_dir/<study>/<hospital>/<round>/<patient>.json` (see `fl.roles.proofs`)."""
        patients = patients_needing_proofs(self._consent, self.study, self.hospital)
        return write_proof_files(out_dir, self._proofs(patients))

    def _proofs(self, patients: list[str]) -> list[ExclusionProof]:
        if not patients:  # no chain read for a hospital without any patient to prove
            return []
        submitted, unlearns = self._usages.submitted(), self.plan().revocation.unlearns
        purpose = self._ledger.study(self.study).purpose
        return proofs_for(self._consent, self.study, patients, submitted, purpose, unlearns)
