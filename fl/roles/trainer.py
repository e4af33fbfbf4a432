"""The trainer role: one hospital's side of the round protocol.

For the latest round, while it is open and this hospital has not submitted to it:

1. fetch the base model by CID and check its SHA-256 against the ledger (a mismatch is an error
   and the bytes are never used);
2. sync the consent index to the latest block `b` and keep only rows whose patient consents at
   `b` with this hospital (`fl.roles.selection`);
3. train on those rows (`fl.train.train_local`), serialize the delta (safetensors), seal it to the
   aggregator's X25519 key, put it in the store;
4. submit with `consentBlock = b` and `dataRoot` = the sorted Merkle root over the distinct
   patients used. If the ledger refuses the update as stale (a revocation of one of this
   hospital's patients landed after `b`), resync; retrain without the revoked patients if any of
   them were used, else resubmit the same update with the fresh block.

The round record (patients used, rows dropped and why) is persisted before every submission, so
a restarted trainer keeps the patient lists behind every `dataRoot` it committed; it resumes from
the ledger (a round it already submitted to is not trained again).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final, Protocol

from torch import Tensor

from consent.errors import ConsentError, StaleConsentError
from consent.ids import Address, Bytes32, StudyId
from consent.index import ConsentIndex
from consent.merkle import DataTree
from consent.sealing import seal
from fl.attacks import Attack, armed_train_fn
from fl.data import HospitalDataset
from fl.errors import FlError, NoTrainingDataError
from fl.models import ModelSpec
from fl.ports import ArtifactStorePort, LedgerPort, RoundRecord, RoundState, StudyRecord
from fl.roles.errors import BaseModelMismatchError, ConsentRetryExhaustedError, RoleError
from fl.roles.plan import StudyPlan
from fl.roles.proofs import ExclusionProof, exclusion_proofs_for, write_proof_files
from fl.roles.records import RoundUsage, load_usages, round_path, write_json_atomic
from fl.roles.selection import Selection, select_rows
from fl.serialize import bytes_to_state_dict, state_dict_to_bytes
from fl.simulate import client_seed
from fl.train import LocalResult, LocalTrainingConfig, train_local

__all__ = ["ConsentSource", "TrainFn", "Trainer", "TrainerOutcome"]

logger = logging.getLogger(__name__)

TrainFn = Callable[
    [ModelSpec, Mapping[str, Tensor], HospitalDataset, LocalTrainingConfig], LocalResult
]
_MAX_CONSECUTIVE_FAILURES: Final = 20


class ConsentSource(Protocol):
    """A consent index kept in step with the chain (see `fl.ports.ConsentViewPort`)."""

    @property
    def index(self) -> ConsentIndex:
        """The synced index."""
        ...

    def sync(self) -> int:
        """Apply every consent event up to the latest block; returns that block."""
        ...


@dataclass(frozen=True, slots=True)
class TrainerOutcome:
    """What the trainer did in one round: `usage` when it submitted, `skipped` otherwise."""

    round: int
    usage: RoundUsage | None
    stale_refusals: int = 0
    retrained: int = 0
    skipped: str | None = None


@dataclass(frozen=True, slots=True)
class _Prepared:
    usage: RoundUsage
    update_hash: Bytes32


def sha256(data: bytes) -> bytes:
    """SHA-256 of the exact bytes (what the ledger records for artifacts)."""
    return hashlib.sha256(data).digest()


class Trainer:
    """A hospital's trainer: `step()` for embedded mode, `run()` to poll in process mode."""

    def __init__(
        self,
        *,
        study: bytes,
        ledger: LedgerPort,
        store: ArtifactStorePort,
        consent: ConsentSource,
        dataset: HospitalDataset,
        state_dir: Path,
        plan: StudyPlan | None = None,
        train_fn: TrainFn = train_local,
        max_stale_retries: int = 5,
        attack: Attack | None = None,
        allow_attacks: bool = False,
    ) -> None:
        # `attack`: a simulated malicious hospital (bench and tests only; see fl.attacks)
        train_fn = armed_train_fn(attack, train_fn, allowed=allow_attacks)
        self.study = StudyId(bytes(study))
        self._ledger = ledger
        self._store = store
        self._consent = consent
        self._dataset = dataset
        self._state_dir = Path(state_dir)
        self._plan = plan
        self._train_fn = train_fn
        self._max_stale_retries = max_stale_retries
        self._skipped: set[int] = set()
        self._settled: int | None = None
        """The latest round this trainer is done with (see `_latest_round`)."""
        self._template: dict[str, Tensor] | None = None
        self._usages = load_usages(self._state_dir)

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

    @property
    def usages(self) -> dict[int, RoundUsage]:
        """Every round this trainer prepared an update for, by round (persisted)."""
        return dict(self._usages)

    def plan(self) -> StudyPlan:
        """The study's plan, read once from the study's metadata artifact."""
        if self._plan is None:
            record = self._ledger.study(self.study)
            self._plan = StudyPlan.from_json_bytes(self._store.get(record.metadata_cid))
        return self._plan

    # --- protocol ---------------------------------------------------------------------------

    def pending_round(self) -> RoundRecord | None:
        """The open round this hospital still has to submit to, if any."""
        record = self._latest_round()
        if record is None or record.state != RoundState.OPEN or record.round in self._skipped:
            return None
        mine = [u for u in record.updates if u.hospital == self.hospital]
        if mine:
            self._reconcile(
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
        `r` still is. Only when `r + 1` is already finalized (rounds passed meanwhile) does it
        fall back to counting the rounds.
        """
        if self._settled is not None:
            following = self._ledger.round(self.study, self._settled + 1)
            if following.state == RoundState.OPEN:
                return following
            if following.state == RoundState.NONE:
                return None
        count = self._ledger.round_count(self.study)
        return None if count == 0 else self._ledger.round(self.study, count - 1)

    def step(self) -> TrainerOutcome | None:
        """Train for and submit to the open round if not done yet; None if nothing to do."""
        record = self.pending_round()
        if record is None:
            return None
        return self.train_round(record)

    def train_round(self, record: RoundRecord) -> TrainerOutcome:
        """Run the protocol for `record` (an open round) and submit, handling stale consent."""
        study = self._ledger.study(self.study)
        if self.hospital not in study.hospitals:
            raise RoleError(f"{self.hospital} is not a member hospital of the study")
        base = self._base_state(record)
        selection = self._select()
        try:
            prepared = self._prepare(record.round, study, base, selection, retrained=0)
        except NoTrainingDataError:
            return self._skip(record.round, "no consented rows")
        stale = 0
        while True:
            try:
                block = self._ledger.submit_update(
                    self.study,
                    record.round,
                    update_hash=prepared.update_hash,
                    update_cid=prepared.usage.update_cid,
                    num_samples=prepared.usage.num_samples,
                    data_root=prepared.usage.data_root,
                    consent_block=prepared.usage.consent_block,
                )
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
                fresh = self._select()
                lost = set(prepared.usage.patients) - set(fresh.patients)
                try:
                    prepared = self._after_stale(record.round, study, base, prepared, fresh, lost)
                except NoTrainingDataError:
                    return self._skip(record.round, "no consented rows after revocations")
                continue
            usage = replace(prepared.usage, submitted_block=block)
            self._persist(usage)
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
        prepared: _Prepared,
        fresh: Selection,
        lost: set[Address],
    ) -> _Prepared:
        if lost:
            logger.info("round %d: %d used patient(s) lost consent: retraining", round_, len(lost))
            return self._prepare(round_, study, base, fresh, retrained=prepared.usage.retrained + 1)
        usage = replace(prepared.usage, consent_block=fresh.block)
        self._persist(usage)
        return _Prepared(usage, prepared.update_hash)

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
        stop = stop or threading.Event()
        outcomes: list[TrainerOutcome] = []
        failures = 0
        while not stop.is_set():
            try:
                outcome = self.step()
                done = until_round is not None and self._finished(until_round)
            except (FlError, ConsentError):
                raise  # not transient: bad data or plan, hash mismatch, consent retries exhausted
            except Exception as exc:  # a daemon loop survives node/store hiccups
                failures += 1
                logger.warning("trainer step failed (%d in a row): %s", failures, exc)
                if failures >= _MAX_CONSECUTIVE_FAILURES:
                    raise
                stop.wait(poll_interval)
                continue
            failures = 0
            if outcome is not None:
                outcomes.append(outcome)
                if on_outcome is not None:
                    on_outcome(outcome)
                continue
            if done:
                break
            stop.wait(poll_interval)
        return outcomes

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
        data = self._store.get(record.base_model_cid)
        digest = sha256(data)
        if digest != bytes(record.base_model_hash):
            raise BaseModelMismatchError(
                record.base_model_cid, bytes(record.base_model_hash), digest
            )
        if self._template is None:
            self._template = self.plan().initial_state()
        return bytes_to_state_dict(data, expected=self._template)

    def _select(self) -> Selection:
        block = self._consent.sync()
        timestamp = self._ledger.block_timestamp(block)
        return select_rows(
            self._consent.index, self.study, self._ledger.sender, self._dataset, block, timestamp
        )

    def _prepare(
        self,
        round_: int,
        study: StudyRecord,
        base: Mapping[str, Tensor],
        selection: Selection,
        *,
        retrained: int,
    ) -> _Prepared:
        plan = self.plan()
        subset = self._dataset.select(selection.rows)
        if len(subset) == 0:
            raise NoTrainingDataError("every row was dropped by consent")
        seed = client_seed(plan.training.seed, round_, study.hospitals.index(self.hospital))
        result = self._train_fn(plan.model, base, subset, replace(plan.training, seed=seed))
        payload = state_dict_to_bytes(
            result.delta, metadata={"round": str(round_), "hospital": self.hospital}
        )
        sealed = seal(payload, study.aggregator_seal_key)
        cid = self._store.put(sealed)
        usage = RoundUsage(
            study=self.study,
            hospital=self._ledger.sender,
            round=round_,
            consent_block=selection.block,
            data_root=DataTree.build(selection.patients).root,
            update_cid=cid,
            num_samples=result.num_samples,
            patients=selection.patients,
            dropped_rows=dict(selection.dropped_rows),
            dropped_patients=dict(selection.dropped_patients),
            retrained=retrained,
        )
        self._persist(usage)
        return _Prepared(usage, Bytes32(sha256(sealed)))

    def _persist(self, usage: RoundUsage) -> None:
        write_json_atomic(round_path(self._state_dir, usage.round), usage.to_json_dict())
        self._usages[usage.round] = usage

    def _reconcile(self, round_: int, data_root: bytes, consent_block: int, block: int) -> None:
        """After a restart: mark the local record of an update the ledger holds as submitted."""
        usage = self._usages.get(round_)
        if usage is None or usage.submitted_block is not None:
            return
        if bytes(usage.data_root) != bytes(data_root):
            logger.error(
                "round %d: the ledger holds a data root this trainer has no record of", round_
            )
            return
        self._persist(replace(usage, consent_block=consent_block, submitted_block=block))

    # --- exclusion proofs ---------------------------------------------------------------------

    def exclusion_proofs(self, patient: str) -> list[ExclusionProof]:
        """Non-membership proofs of `patient` against every data root this hospital committed
        with a consent block at or after the patient's latest revocation (none if not revoked)."""
        submitted = [u for u in self._usages.values() if u.submitted_block is not None]
        return exclusion_proofs_for(self._consent.index, self.study, patient, submitted)

    def write_exclusion_proofs(self, out_dir: Path) -> list[Path]:
        """Proof files for every revoked patient of this hospital, under
        `out_dir/<study>/<hospital>/<round>/<patient>.json` (see `fl.roles.proofs`)."""
        index = self._consent.index
        revoked = index.revoked_since(self.study, self.hospital, -1)
        proofs = [p for patient in revoked for p in self.exclusion_proofs(patient)]
        return write_proof_files(out_dir, proofs)
