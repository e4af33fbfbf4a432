"""The aggregator's side of privacy mode "secagg" (`consent.secagg`): it learns only the sum.

Per study, before round 0: fix the plan's threshold t on chain (`SecAggCoordinator.configure`)
and wait until every member hospital dealt its mask key (or t of them did and the plan's round
timeout passed). Before a later round: end the study (`Aggregator.ended`) when fewer than t
hospitals hold a live key. Per round, once the roster is in (or the minimum plus the timeout):

1. close submissions on chain: the survivors are the updates submitted by then, the others on
   the roster are dropped (their keys burned); then give the survivors the plan's round timeout
   (at least one poll) to reveal;
2. with fewer than t submissions, or fewer than t reveals once the timeout passed, abort on chain
   with the named reason ("too-few-submissions", "too-few-reveals") and finalize the round with
   its base model unchanged, every update listed as rejected with that reason: the next round
   starts;
3. otherwise rebuild the sum from the public transcript exactly as the audit does
   (`consent.secagg.recover_sum` over the masked updates, reveals and the dropped hospitals' key
   deals, each checked against its on-chain hash): a reveal holding a forged or forbidden share
   is left out (the audit names its sender); the model is `base + mean`
   (`consent.secagg.model`, float32), the metrics list the survivors with their on-chain
   weights and FedAvg decisions.

Robust strategies and contribution values need each hospital's own update, which this mode
hides: the plan refuses them (`fl.roles.plan`), so `judge_round` has no part here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Final

from torch import Tensor

from consent.errors import RoundChangedError
from consent.formats import FormatError
from consent.formats.key_deal import decode_key_deal
from consent.formats.masked_update import decode_masked_update
from consent.formats.secagg_reveal import decode_reveal
from consent.ids import Address, Bytes32, StudyId
from consent.records import RoundResult
from consent.secagg import (
    ForbiddenRevealError,
    ForgedShareError,
    KeyDeal,
    MaskedUpdate,
    RecoveredSum,
    Reveal,
    RosterEntry,
    RoundContext,
    SecAggError,
    dequantize_mean,
    recover_sum,
)
from consent.secagg.model import apply_mean, load_tensors, model_bytes
from fl.data import Examples
from fl.ports import ArtifactStorePort, LedgerPort, RoundRecord, SecAggPort
from fl.roles.aggregator_outcome import AggregatorOutcome
from fl.roles.artifacts import Artifact, fetch_verified, sha256
from fl.roles.collect import RejectedHospital
from fl.roles.errors import RoleError, RoundKeptChangingError
from fl.roles.plan import StudyPlan
from fl.roles.secagg_hospital import roster_entries, secagg_port
from fl.serialize import bytes_to_state_dict
from fl.strategy import UpdateDecision

__all__ = [
    "REVEAL_WINDOW_BLOCKS",
    "TOO_FEW_REVEALS",
    "TOO_FEW_SUBMISSIONS",
    "SecAggAggregation",
    "SecAggRoundError",
]

logger = logging.getLogger(__name__)

REVEAL_WINDOW_BLOCKS: Final = 0
"""The on-chain reveal window: blocks are mined by transactions, so a window in blocks does not
pass while the chain is idle; the aggregator waits the plan's round timeout instead."""
TOO_FEW_SUBMISSIONS: Final = "too-few-submissions"
TOO_FEW_REVEALS: Final = "too-few-reveals"
_MAX_FINALIZE_TRIES: Final = 5

Finished = tuple[AggregatorOutcome, Artifact, dict[str, Tensor]]
"""The finalized round, its model (stored, on chain) and the model as tensors."""


class SecAggRoundError(RoleError, RuntimeError):
    """The survivors' sum cannot be rebuilt from the transcript (the round stays open).

    Attributes:
        hospital: the party the failure is attributed to (None: none in particular).
    """

    def __init__(self, round_: int, reason: str, hospital: Address | None = None) -> None:
        who = "" if hospital is None else f" ({hospital})"
        super().__init__(f"round {round_}: the secure sum cannot be rebuilt{who}: {reason}")
        self.hospital = hospital


class SecAggAggregation:
    """One study's secagg rounds, as its aggregator runs them."""

    def __init__(
        self,
        *,
        study: StudyId,
        ledger: LedgerPort,
        port: SecAggPort,
        store: ArtifactStorePort,
        plan: StudyPlan,
        test_set: Examples | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.study = study
        self._ledger = ledger
        self._port = port
        self._store = store
        self._plan = plan
        self._spec = plan.privacy
        self._test_set = test_set
        self._clock = clock
        self._since: dict[tuple[str, int], float] = {}

    @classmethod
    def for_plan(
        cls,
        plan: StudyPlan,
        *,
        study: StudyId,
        ledger: LedgerPort,
        port: SecAggPort | None,
        store: ArtifactStorePort,
        test_set: Examples | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> SecAggAggregation | None:
        """The study's secagg rounds in modes "secagg" and "dp+secagg" (`port`, or the ledger
        when it serves that port), else None."""
        if not plan.privacy.mode.secagg:
            return None
        return cls(
            study=study, ledger=ledger, port=secagg_port(ledger, port), store=store, plan=plan,
            test_set=test_set, clock=clock,
        )  # fmt: skip

    def _waited(self, what: str, round_: int) -> float:
        start = self._since.setdefault((what, round_), self._clock())
        return self._clock() - start

    def configure(self) -> None:
        """Fix the plan's threshold on chain unless it is; a different one is refused."""
        threshold = self._port.secagg_threshold(self.study)
        if threshold == 0:
            self._port.secagg_configure(self.study, self._spec.threshold, REVEAL_WINDOW_BLOCKS)
        elif threshold != self._spec.threshold:
            raise RoleError(
                f"the chain's secagg threshold {threshold} is not the plan's {self._spec.threshold}"
            )

    def can_open(self, round_: int) -> bool:
        """Configure the study's threshold once; round 0 opens when every member dealt its mask
        key, or t did and the round timeout passed. Later rounds open at once."""
        self.configure()
        if round_ > 0:
            return True
        members = self._ledger.study(self.study).hospitals
        dealt = sum(1 for m in members if self._port.secagg_keys(self.study, m).dealt_block)
        if dealt == len(members):
            return True
        return dealt >= self._spec.threshold and (
            self._waited("open", round_) >= self._plan.round_timeout_s
        )

    def too_few(self, round_: int) -> str | None:
        """Why the study cannot run `round_` (> 0): fewer than t hospitals hold a live dealt
        key (a dropped hospital's latest epoch is burned until it deals a new one), so every
        further round would abort; None if it can."""
        if round_ == 0:
            return None
        members = self._ledger.study(self.study).hospitals
        keys = [self._port.secagg_keys(self.study, m) for m in members]
        live = sum(1 for k in keys if k.dealt_block and not k.burned_block)
        if live >= self._spec.threshold:
            return None
        return (
            f"secure aggregation: {live} hospital(s) hold a live key, threshold "
            f"{self._spec.threshold}: the study ends with {round_} round(s)"
        )

    def roster(self, round_: int) -> tuple[Address, ...]:
        """Who may submit to `round_`."""
        return self._port.secagg_roster(self.study, round_)

    def advance(self, record: RoundRecord) -> Finished | None:
        """Close, wait for reveals, then recover and finalize or abort; None while waiting."""
        round_ = record.round
        phase = self._port.secagg_phase(self.study, round_)
        if not phase.closed:
            self._port.secagg_close(self.study, round_)
            self._waited("reveal", round_)
            logger.info("round %d: submissions closed", round_)
            return None  # the survivors reveal now
        waited = self._waited("reveal", round_)
        t = self._spec.threshold
        if phase.aborted:
            return self._aborted(record, phase.abort_reason)
        if phase.submitted_at_close < t:
            reason = TOO_FEW_SUBMISSIONS
        elif phase.reveal_count >= phase.submitted_at_close or (
            phase.reveal_count >= t and waited >= self._plan.round_timeout_s
        ):
            return self._recovered(record, phase.submitted_at_close)
        elif waited < self._plan.round_timeout_s:
            return None
        else:
            reason = TOO_FEW_REVEALS
        self._port.secagg_abort(self.study, round_, reason)
        logger.warning("round %d: aborted (%s), threshold %d", round_, reason, t)
        return self._aborted(record, reason)

    # --- the two ends of a round ----------------------------------------------------------------

    def _aborted(self, record: RoundRecord, reason: str) -> Finished:
        base = fetch_verified(self._store, record.base_model_cid, record.base_model_hash)
        model = Artifact(base, record.base_model_hash, record.base_model_cid)
        return self._finalize(record, model, (), f"round aborted: {reason}", {"aborted": reason})

    def _recovered(self, record: RoundRecord, submitted: int) -> Finished:
        round_ = record.round
        context = RoundContext(self.study, round_)
        survivors = self._ledger.round(self.study, round_).updates[:submitted]
        roster = roster_entries(self._port, self.study, round_, self.roster(round_))
        updates = [self._masked(round_, u.update_cid, u.update_hash, u.hospital) for u in survivors]
        for update, on_chain in zip(updates, survivors, strict=True):
            if update.weight != on_chain.num_patients:
                raise SecAggRoundError(
                    round_,
                    f"masked update weighs {update.weight}, the chain says {on_chain.num_patients}",
                    on_chain.hospital,
                )
        alive = {u.hospital for u in survivors}
        deals = {
            e.hospital: self._deal(round_, e.hospital) for e in roster if e.hospital not in alive
        }
        result = self._recover(context, roster, deals, updates, self._reveals(round_))
        mean = dequantize_mean(result.total, result.weight_sum, self._spec.ring)
        base = fetch_verified(self._store, record.base_model_cid, record.base_model_hash)
        data = model_bytes(apply_mean(load_tensors(base), mean))
        model = Artifact(data, Bytes32(sha256(data)), self._store.put(data))
        accepted = tuple((u.hospital, u.num_patients) for u in survivors)
        extension = {"survivors": len(alive), "dropped": list(result.dropped), "aborted": None}
        return self._finalize(
            record, model, accepted, "arrived after submissions closed", extension
        )

    def _recover(
        self,
        context: RoundContext,
        roster: Sequence[RosterEntry],
        deals: dict[Address, KeyDeal],
        updates: list[MaskedUpdate],
        reveals: list[Reveal],
    ) -> RecoveredSum:
        """`recover_sum`, leaving out each reveal that holds a forged or forbidden share."""
        while True:
            try:
                return recover_sum(
                    context, roster=roster, key_deals=deals, updates=updates, reveals=reveals
                )
            except (ForgedShareError, ForbiddenRevealError) as exc:
                kept = [r for r in reveals if r.holder != exc.holder]
                if len(kept) == len(reveals):
                    raise SecAggRoundError(context.round, str(exc), exc.holder) from exc
                logger.warning("round %d: left out %s's reveal: %s", context.round, exc.holder, exc)
                reveals = kept
            except SecAggError as exc:
                raise SecAggRoundError(
                    context.round, str(exc), getattr(exc, "owner", None)
                ) from exc

    # --- the transcript, each artifact checked against its on-chain hash ------------------------

    def _masked(self, round_: int, cid: str, digest: bytes, sender: Address) -> MaskedUpdate:
        try:
            return decode_masked_update(fetch_verified(self._store, cid, digest), hospital=sender)
        except (SecAggError, RoleError) as exc:
            raise SecAggRoundError(round_, f"masked update: {exc}", sender) from exc

    def _deal(self, round_: int, owner: Address) -> KeyDeal:
        keys = self._port.secagg_keys_at(self.study, owner, round_)  # the epoch the round used
        try:
            return decode_key_deal(fetch_verified(self._store, keys.deal_cid, keys.deal_hash))
        except (FormatError, RoleError) as exc:
            raise SecAggRoundError(round_, f"key deal: {exc}", owner) from exc

    def _reveals(self, round_: int) -> list[Reveal]:
        reveals = []
        for entry in self._port.secagg_reveals(self.study, round_):
            try:
                data = fetch_verified(self._store, entry.reveal_cid, entry.reveal_hash)
                published = decode_reveal(data)
            except (FormatError, RoleError) as exc:
                logger.warning("round %d: unreadable reveal of %s: %s", round_, entry.hospital, exc)
                continue
            if published.holder == entry.hospital:
                reveals.append(published)
        return reveals

    # --- finalization -----------------------------------------------------------------------------

    def _finalize(
        self,
        record: RoundRecord,
        model: Artifact,
        accepted: tuple[tuple[Address, int], ...],
        others: str,
        extension: dict[str, object],
    ) -> Finished:
        """Put the metrics and finalize; every update not in `accepted` is rejected with
        `others` as its reason. Re-reads and retries when an update landed meanwhile."""
        state = bytes_to_state_dict(model.data, expected=self._plan.initial_state())
        test = None
        if self._test_set is not None:
            test = self._plan.make_learner().evaluate(self._plan.model, state, self._test_set)
        total = sum(n for _, n in accepted)
        kept = dict(accepted)
        for _ in range(_MAX_FINALIZE_TRIES):
            latest = self._ledger.round(self.study, record.round)
            hospitals = self._ledger.study(self.study).hospitals
            submitted = [u.hospital for u in latest.updates]
            decisions = tuple(
                UpdateDecision(h, True, kept[h] / total)
                if h in kept
                else UpdateDecision(h, False, 0.0, others)
                for h in submitted
            )
            outcome = AggregatorOutcome(
                round=record.round,
                model_cid=model.cid,
                model_hash=model.hash,
                metrics_cid="",
                accepted=accepted,
                rejected=tuple(RejectedHospital(h, others) for h in submitted if h not in kept),
                missing=tuple(h for h in hospitals if h not in submitted),
                test=test,
                decisions=decisions,
            )
            plan = self._plan
            strategy = {"name": plan.strategy, "options": dict(plan.strategy_options)}
            cid = self._store.put(outcome.metrics(strategy, {"secagg": extension}).to_json_bytes())
            result = RoundResult(
                model_hash=model.hash,
                model_cid=model.cid,
                metrics_cid=cid,
                considered_updates=len(submitted),
            )
            try:
                self._ledger.finalize_round(self.study, record.round, result)
            except RoundChangedError:
                continue
            return replace(outcome, metrics_cid=cid), model, state
        raise RoundKeptChangingError(record.round, _MAX_FINALIZE_TRIES)
