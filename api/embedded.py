"""A whole study in one process: eth-tester chain, local artifact store, coordinator, aggregator
and K hospital trainers, driven step by step (the engine behind `consentfl demo` and the
consent-property tests).

    study = EmbeddedStudy.create(workdir, hospitals=3, plan=plan, rounds=6, test_set=split.test)
    keys = [study.enroll(k, split.hospitals[k]) for k in range(3)]
    report = study.run_round()          # every trainer steps, then the aggregator finalizes
    study.revoke(keys[0].keys["r17"])   # the patient signs, the coordinator relays
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from api.embedded_steps import OrderedSubmitLedger, RoundSteps
from api.enrolment import Enrolment, enroll_records, revoke_as_patient
from chain.connection import Chain, connect
from chain.consent_feed import ConsentLogFeed
from chain.consent_view import ChainConsentView
from chain.deploy import Ledger, attach, deploy
from chain.ledger import ChainLedger
from chain.serialized import serialize_requests
from chain.store import ArtifactStore, LocalStore
from chain.transactions import Sender
from consent.events import ConsentRevoked
from consent.ids import Address, StudyId, parse_address, study_id
from consent.index import ConsentIndex
from consent.keys import PatientKey
from consent.sealing import SealingKeyPair, generate_keypair
from fl.data import Examples, RecordDataset
from fl.ports import RoundState
from fl.roles import Aggregator, AggregatorOutcome, StudyPlan, Trainer, TrainerOutcome
from fl.roles.trainer import TrainFn

__all__ = ["EmbeddedStudy", "RoundReport"]

logger = logging.getLogger(__name__)

_FIRST_HOSPITAL_ACCOUNT: Final = 2  # eth-tester accounts: 0 coordinator, 1 aggregator
_MAX_HOSPITALS: Final = 8
_REVOCATION_DEADLINE_S: Final = 3_600
_SECAGG_STEPS: Final = 10
"""Steps of every role per secagg phase before the embedded study gives up (each needs one)."""


@dataclass(frozen=True, slots=True)
class RoundReport:
    """One embedded round: what each hospital did and what the aggregator finalized."""

    round: int
    trainers: dict[Address, TrainerOutcome | None]
    aggregate: AggregatorOutcome


class EmbeddedStudy:
    """Coordinator, aggregator and hospitals of one study on an in-process chain."""

    def __init__(
        self,
        *,
        chain: Chain,
        coordinator: Ledger,
        aggregator_ledger: Ledger,
        hospital_ledgers: tuple[Ledger, ...],
        study: StudyId,
        store: ArtifactStore,
        seal: SealingKeyPair,
        plan: StudyPlan,
        aggregator: Aggregator,
        workdir: Path,
        train_fn: TrainFn | None,
        concurrent: bool = False,
    ) -> None:
        self.chain = chain
        self.coordinator = coordinator
        self.aggregator_ledger = aggregator_ledger
        self.hospital_ledgers = hospital_ledgers
        self.study = study
        self.store = store
        self.seal = seal
        self.plan = plan
        self.aggregator = aggregator
        self.workdir = workdir
        self._train_fn = train_fn
        # on a JSON-RPC node the hospitals' views share their log ranges (chain.consent_feed)
        self._feed = None if chain.ephemeral else ConsentLogFeed(coordinator.consents)
        self.views = tuple(self._consent_view(k) for k in range(len(hospital_ledgers)))
        self.trainers: dict[int, Trainer] = {}
        self._trainer_ledgers: dict[int, OrderedSubmitLedger] = {}
        self._steps = RoundSteps(len(hospital_ledgers)) if concurrent else None
        """None: the trainers step one after another (`api.embedded_steps`)."""

    @classmethod
    def create(
        cls,
        workdir: Path,
        *,
        hospitals: int,
        plan: StudyPlan,
        rounds: int,
        test_set: Examples | None = None,
        min_updates: int = 1,
        name: str = "embedded-study",
        train_fn: TrainFn | None = None,
        rpc: str = "eth-tester",
        store: ArtifactStore | None = None,
        concurrent: bool | None = None,
    ) -> EmbeddedStudy:
        """Deploy the contracts, create the study (the plan is its metadata) and admit
        `hospitals` hospitals. Nothing is enrolled yet.

        By default the chain is eth-tester in this process and the store a `LocalStore` under
        `workdir`; `rpc` (a node with unlocked dev accounts, such as `consentfl dev up`'s anvil)
        and `store` (e.g. an `IpfsStore`) run the same study against real nodes.

        `concurrent`: whether the trainers step a round at once (`api.embedded_steps`); by
        default on a JSON-RPC node only. On eth-tester its requests are then serialized
        (py-evm is not thread-safe), which measured no faster than stepping in sequence."""
        if not 1 <= hospitals <= _MAX_HOSPITALS:
            raise ValueError(f"hospitals must be 1..{_MAX_HOSPITALS}, got {hospitals}")
        workdir = Path(workdir)
        chain = connect(rpc)
        concurrent = not chain.ephemeral if concurrent is None else concurrent
        if concurrent and chain.ephemeral:
            serialize_requests(chain)
        coordinator, aggregator_ledger, hospital_ledgers = _deployed(chain, rpc, hospitals)
        store = store if store is not None else LocalStore(workdir / "store")
        seal = generate_keypair()
        study = study_id(name)
        aggregator_address = parse_address(list(chain.w3.eth.accounts)[1])
        _create_study(
            coordinator, study, aggregator_address, plan, store, seal, min_updates, hospital_ledgers
        )
        return cls(
            chain=chain,
            coordinator=coordinator,
            aggregator_ledger=aggregator_ledger,
            hospital_ledgers=hospital_ledgers,
            study=study,
            store=store,
            seal=seal,
            plan=plan,
            aggregator=_aggregator(aggregator_ledger, study, store, seal, plan, rounds, test_set),
            workdir=workdir,
            train_fn=train_fn,
            concurrent=concurrent and hospitals > 1,
        )

    def _consent_view(self, k: int) -> ChainConsentView:
        # The chain lives and dies with this process, so the index does too (in memory).
        index = ConsentIndex(":memory:")
        return ChainConsentView(
            self.hospital_ledgers[k].consents,
            index,
            from_block=self.coordinator.manifest.deploy_block,
            feed=self._feed,
        )

    def hospital(self, k: int) -> Address:
        """Hospital `k`'s address."""
        sender = self.hospital_ledgers[k].rounds.sender
        assert sender is not None
        return sender.address

    def enroll(
        self,
        k: int,
        records: RecordDataset,
        *,
        expires_at: int = 0,
        progress: Callable[[int], None] | None = None,
        batched_first: bool = False,
    ) -> Enrolment:
        """Enrol hospital `k`'s records (one patient each; with `batched_first`, as batches of
        first consents under one Merkle root) and set up its trainer on them.

        The trainer's round records go to `workdir/hospital-<k+1>/state`, emptied first: they
        belong to this run's ephemeral chain."""
        enrolment = enroll_records(
            self.hospital_ledgers[k].consents,
            self.study,
            records,
            expires_at=expires_at,
            progress=progress,
            batched_first=batched_first,
        )
        state_dir = self.workdir / f"hospital-{k + 1}" / "state"
        shutil.rmtree(state_dir, ignore_errors=True)
        ledger = self._trainer_ledgers[k] = OrderedSubmitLedger(self.hospital_ledgers[k])
        self.trainers[k] = Trainer(
            study=self.study,
            ledger=ledger,
            store=self.store,
            consent=self.views[k],
            dataset=enrolment.dataset,
            state_dir=state_dir,
            plan=self.plan,
            train_fn=self._train_fn,
        )
        return enrolment

    def revoke(self, patient: PatientKey) -> ConsentRevoked:
        """The patient signs a revocation and the coordinator relays it."""
        deadline = int(time.time()) + _REVOCATION_DEADLINE_S
        deadline = max(deadline, self.chain.block_timestamp() + _REVOCATION_DEADLINE_S)
        return revoke_as_patient(self.coordinator.consents, self.study, patient, deadline=deadline)

    def run_round(self) -> RoundReport:
        """Open the next round if needed, let every enrolled hospital train and submit, then
        verify, aggregate and finalize (without waiting for a timeout)."""
        if self.aggregator.secagg() is not None:
            return self._run_secagg_round()
        if self.aggregator.start() is None and self.aggregator.known_open() is None:
            record = self.aggregator.current_round()  # not its own write: read what is open
            if record is None or record.state != RoundState.OPEN:
                raise RuntimeError(self.aggregator.ended or "every planned round is finalized")
        outcomes = self._step_trainers()
        record = self.aggregator.current_round()  # the one read: with every update submitted
        assert record is not None
        aggregate = self.aggregator.finalize(record)
        if self.aggregator.done():
            self.aggregator.settle_contributions()  # no next round to settle it in
        return RoundReport(record.round, outcomes, aggregate)

    def _step_trainers(self) -> dict[Address, TrainerOutcome | None]:
        """Every enrolled trainer's step, in enrolment order (concurrently if so created),
        while the aggregator settles the last round's contributions record."""
        order = list(self.trainers)  # enrolment order, as before
        settle = self.aggregator.settle_contributions
        if self._steps is None:
            settle()
            return {self.hospital(k): self.trainers[k].step() for k in order}
        steps = [(self.trainers[k].step, self._trainer_ledgers[k]) for k in order]
        outcomes = self._steps.run(steps, meanwhile=settle)
        return dict(zip((self.hospital(k) for k in order), outcomes, strict=True))

    def _run_secagg_round(self) -> RoundReport:
        """Privacy mode "secagg": keys and deals first (round 0), submissions, the close, the
        survivors' reveals, the recovered sum, each step driven in turn (no waiting)."""
        outcomes: dict[Address, TrainerOutcome | None] = {}
        for _ in range(_SECAGG_STEPS):
            record = self.aggregator.current_round()
            if record is not None and record.state == RoundState.OPEN:
                break
            if self.aggregator.start() is None:
                for trainer in self.trainers.values():
                    trainer.step()  # register keys, then deal the mask key
        else:
            raise RuntimeError(self.aggregator.ended or "every planned round is finalized")
        for _ in range(_SECAGG_STEPS):
            for k, trainer in self.trainers.items():
                outcome = trainer.step()  # submit, later reveal
                if outcome is not None:
                    outcomes[self.hospital(k)] = outcome
            aggregate = self.aggregator.poll()
            if aggregate is not None:
                if self.aggregator.done():
                    self.aggregator.settle_contributions()  # no next round to settle it in
                return RoundReport(record.round, outcomes, aggregate)
        raise RuntimeError(f"secagg round {record.round} did not finalize")

    def write_exclusion_proofs(self, out_dir: Path) -> list[Path]:
        """Every hospital's exclusion-proof files for its revoked patients."""
        return [p for t in self.trainers.values() for p in t.write_exclusion_proofs(out_dir)]

    def close(self) -> None:
        """Settle the aggregator's last contributions record (a refusal raises), stop the
        hospitals' step threads and close their consent indexes."""
        try:
            self.aggregator.settle_contributions()
        finally:
            if self._steps is not None:
                self._steps.close()
            for view in self.views:
                view.index.close()


def _deployed(chain: Chain, rpc: str, hospitals: int) -> tuple[Ledger, Ledger, tuple[Ledger, ...]]:
    """Deploy from the node's first unlocked account: the coordinator's, the aggregator's and
    each hospital's ledger (one unlocked account each)."""
    accounts = list(chain.w3.eth.accounts)
    if len(accounts) < _FIRST_HOSPITAL_ACCOUNT + hospitals:
        raise ValueError(
            f"the node at {rpc} unlocks {len(accounts)} accounts; {hospitals} hospitals need "
            f"{_FIRST_HOSPITAL_ACCOUNT + hospitals} (with the coordinator and the aggregator)"
        )
    coordinator_sender = Sender.unlocked(chain, accounts[0])
    coordinator = attach(chain, deploy(chain, coordinator_sender), coordinator_sender)
    aggregator_ledger = coordinator.with_sender(Sender.unlocked(chain, accounts[1]))
    hospital_ledgers = tuple(
        coordinator.with_sender(Sender.unlocked(chain, accounts[_FIRST_HOSPITAL_ACCOUNT + k]))
        for k in range(hospitals)
    )
    return coordinator, aggregator_ledger, hospital_ledgers


def _aggregator(
    ledger: Ledger,
    study: StudyId,
    store: ArtifactStore,
    seal: SealingKeyPair,
    plan: StudyPlan,
    rounds: int,
    test_set: Examples | None,
) -> Aggregator:
    """The study's aggregator on `ledger`, its judgements recorded on chain; in secagg mode the
    threshold is fixed now, before any key is dealt."""
    port = ChainLedger(ledger)
    aggregator = Aggregator(
        study=study,
        ledger=port,
        store=store,
        seal_key=seal.private_key,
        rounds=rounds,
        test_set=test_set,
        plan=plan,
        contributions=port,  # each round's judgement recorded on chain
    )
    secagg = aggregator.secagg()
    if secagg is not None:
        secagg.configure()
    return aggregator


def _create_study(
    coordinator: Ledger,
    study: StudyId,
    aggregator: Address,
    plan: StudyPlan,
    store: ArtifactStore,
    seal: SealingKeyPair,
    min_updates: int,
    hospital_ledgers: tuple[Ledger, ...],
) -> None:
    """Create the study (the plan is its metadata), fix a dp study's caps, admit the hospitals."""
    coordinator.studies.create_study(
        study,
        aggregator=aggregator,
        aggregator_seal_key=seal.public_key,
        min_updates=min_updates,
        metadata_cid=store.put(plan.to_json_bytes()),
    )
    if plan.dp is not None and coordinator.budget is not None:  # dp mode: caps fixed now
        coordinator.budget.configure(study, plan.dp)
    for ledger in hospital_ledgers:
        assert ledger.rounds.sender is not None
        coordinator.studies.add_hospital(study, ledger.rounds.sender.address)
