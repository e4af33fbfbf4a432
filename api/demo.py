"""`consentfl demo`: a whole consent-aware study in one process, end to end.

The coordinator deploys the contracts and creates the study, K hospitals enrol patients from a
bundled dataset (every patient signs their own EIP-712 consent), the aggregator and the trainers run
the rounds through the chain, and the patients' web API is served for real on 127.0.0.1. After the
second round several patients revoke through that API with their own keys; later rounds leave
them out, and the audit verifier rechecks every hash, CID and exclusion proof at the end.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import httpx

from api.demo_dp import dp_terms, dp_training, epsilon_spent, patients_epsilon
from api.demo_http import DemoError, revoke_over_http, serve_api
from api.demo_secagg import majority_threshold, secagg_figures
from api.demo_unlearn import demo_policy, unlearn_summary
from api.embedded import EmbeddedStudy, RoundReport
from api.enrolment import Enrolment
from api.services import Services
from api.wiring import default_audit_checks
from chain.audit import AuditReport, AuditVerifier
from chain.exclusions import ExclusionProofs
from chain.manifest import save_manifest
from chain.store import open_store
from consent.formats.privacy import PrivacyMode, PrivacySpec
from consent.formats.revocation import MAX_SHARDS, RevocationPolicy
from consent.formats.study_plan import DEFAULT_LEARNER
from consent.ids import Address
from fl.errors import ModelSpecError
from fl.models import ModelSpec
from fl.roles import MetadataError, StudyPlan
from fl.split import split_dataset
from fl.train import LocalTrainingConfig

__all__ = ["DemoConfig", "DemoError", "DemoEvents", "DemoResult", "RoundRow", "run_demo"]

logger = logging.getLogger(__name__)

Dataset = Literal["breast-cancer", "diabetes", "digits", "wine", "iris"]
_HOST: Final = "127.0.0.1"
_METRICS: Final = ("accuracy", "ari", "inertia", "r2")
"""The demo's metric, the first a task reports: accuracy (classes), ARI (or inertia without a
reference labelling) for clustering, R^2 for regression."""


@dataclass(frozen=True, slots=True)
class DemoConfig:
    """What the demo runs."""

    out: Path
    rounds: int = 5
    hospitals: int = 3
    dataset: Dataset = "breast-cancer"
    revoke_after: int = 2
    """Patients revoke once this many rounds are finalized."""
    revocations_per_hospital: int = 2
    local_epochs: int = 5
    seed: int = 0
    rpc: str = "eth-tester"
    """`eth-tester` (in this process) or the URL of a node with unlocked dev accounts."""
    ipfs: str | None = None
    """An IPFS API URL; default: a local store under `out/store`."""
    learner: str | None = None
    """The plan's learner; default: kmeans for iris (clustering), sgd-delta otherwise."""
    mode: Literal["sealed", "dp", "secagg", "dp+secagg"] = "sealed"
    """Privacy mode (`consent.privacy_mode`): "dp" adds record-level DP-SGD with an on-chain
    budget of `epsilon`; "secagg" hides each update from the aggregator (secure aggregation,
    `api.demo_secagg`); "dp+secagg" does both."""
    epsilon: float = 3.0
    unlearn: bool = False
    """Revocation policy "unlearn" (issue 16): revocations roll back and retrain."""
    shards: int = 1
    """With `unlearn`: SISA shards per hospital (the model is the ensemble of their
    sub-models; a revocation retrains only its patient's shard)."""

    def __post_init__(self) -> None:
        if self.rounds < 1:
            raise DemoError(f"--rounds must be at least 1, got {self.rounds}")
        if not 1 <= self.hospitals <= 8:
            raise DemoError(f"--hospitals must be between 1 and 8, got {self.hospitals}")
        if self.revocations_per_hospital < 0:
            raise DemoError("revocations per hospital must be >= 0")
        if self.shards != 1 and not (self.unlearn and 1 < self.shards <= MAX_SHARDS):
            raise DemoError(f"--shards takes --unlearn and 2..{MAX_SHARDS}, got {self.shards}")
        if self.mode not in tuple(PrivacyMode):
            known = ", ".join(m.value for m in PrivacyMode)
            raise DemoError(f"--mode must be one of {known}, got {self.mode!r}")
        if PrivacyMode(self.mode).secagg and self.hospitals < 2:
            raise DemoError(f"--mode {self.mode} needs at least 2 hospitals")
        if not (math.isfinite(self.epsilon) and self.epsilon > 0):
            raise DemoError(f"--epsilon must be a positive number, got {self.epsilon}")


@dataclass(frozen=True, slots=True)
class RoundRow:
    """One finalized round, as the demo reports it."""

    round: int
    hospitals: int
    samples: dict[str, int]
    consent_blocks: dict[str, int]
    dropped: dict[str, dict[str, int]]
    model_cid: str
    metric_name: str
    metric: float | None
    kept: dict[str, bool] = field(default_factory=dict)
    """The strategy's decision per aggregated hospital."""
    values: dict[str, float] = field(default_factory=dict)
    """Each aggregated hospital's contribution value (exact Shapley on the test set)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "round": self.round,
            "hospitals": self.hospitals,
            "samples": self.samples,
            "consent_block": max(self.consent_blocks.values(), default=None),
            "consent_blocks": self.consent_blocks,
            "dropped_rows": self.dropped,
            "model_cid": self.model_cid,
            self.metric_name: self.metric,
            "kept": self.kept,
            "values": self.values,
        }


@dataclass(frozen=True, slots=True)
class DemoEvents:
    """Callbacks through which the CLI shows progress (all optional)."""

    stage: Callable[[str], None] = lambda _msg: None
    enrolled: Callable[[int, int], None] = lambda _k, _n: None
    round_done: Callable[[RoundRow], None] = lambda _row: None
    revoked: Callable[[Address, str, int], None] = lambda _p, _tx, _b: None


@dataclass(slots=True)
class DemoResult:
    """Everything the demo produced."""

    config: DemoConfig
    study: str
    api_url: str
    rounds: list[RoundRow] = field(default_factory=list)
    revoked: dict[Address, str] = field(default_factory=dict)
    """Revoked patient -> their hospital."""
    audit: AuditReport | None = None
    seconds: float = 0.0
    epsilon_spent: dict[str, float] = field(default_factory=dict)
    """dp modes: hospital-<k> -> the epsilon its on-chain budget ledger holds."""
    patient_epsilon: dict[str, float] = field(default_factory=dict)
    """dp modes: revoked patient -> the epsilon their consent status (HTTP API) reports spent
    on their hospital's data."""
    ended: str | None = None
    """Why the study stopped before its rounds (dp mode: no budget left), if it did."""
    unlearning: dict[str, Any] | None = None
    """`--unlearn`: the rollbacks, the lineage check, the metric before and after."""
    secagg: dict[str, Any] = field(default_factory=dict)
    """secagg mode: the threshold and each round's transcript figures (`api.demo_secagg`)."""


def _row(report: RoundReport, hospitals: list[Address]) -> RoundRow:
    samples: dict[str, int] = {}
    blocks: dict[str, int] = {}
    dropped: dict[str, dict[str, int]] = {}
    for number, hospital in enumerate(hospitals, start=1):
        outcome = report.trainers.get(hospital)
        name = f"hospital-{number}"
        if outcome is None or outcome.usage is None:
            samples[name] = 0
            continue
        usage = outcome.usage
        samples[name] = usage.num_samples
        blocks[name] = usage.consent_block
        dropped[name] = {str(reason): n for reason, n in usage.dropped_rows.items() if n}
    names = {h: f"hospital-{n}" for n, h in enumerate(hospitals, start=1)}
    judgement = report.aggregate.judgement
    kept: dict[str, bool] = {}
    worth: dict[str, float] = {}
    if judgement is not None:
        kept = {names.get(Address(d.client_id), d.client_id): d.kept for d in judgement.decisions}
        if judgement.contributions is not None:
            worth = {
                names.get(Address(p), p): v for p, v in judgement.contributions.as_dict().items()
            }
    test = report.aggregate.test
    metric_name, metric = ("accuracy", None)
    if test is not None:
        values = test.to_json_dict()
        metric_name = next(m for m in _METRICS if values.get(m) is not None)
        metric = float(values[metric_name])  # type: ignore[arg-type]
    return RoundRow(
        round=report.round,
        hospitals=len(report.aggregate.accepted),
        samples=samples,
        consent_blocks=blocks,
        dropped=dropped,
        model_cid=report.aggregate.model_cid,
        metric_name=metric_name,
        metric=metric,
        kept=kept,
        values=worth,
    )


def _plan(config: DemoConfig, n_features: int, task: str, n_classes: int) -> StudyPlan:
    learner = config.learner or ("kmeans" if task == "clustering" else "sgd-delta")
    training = LocalTrainingConfig(
        epochs=config.local_epochs, batch_size=32, lr=0.05, seed=config.seed
    )
    mode = PrivacyMode(config.mode)
    dp, secagg = None, mode.secagg
    if mode.dp:
        training = dp_training(config.local_epochs, config.seed)
        dp = dp_terms(config.epsilon, config.rounds, config.local_epochs)
    try:
        if task == "clustering":
            spec = ModelSpec.kmeans(n_features, n_classes)
        elif learner in ("ridge", "least-squares"):
            spec = ModelSpec.linear(n_features, task)  # type: ignore[arg-type]
        else:
            outputs = n_classes if task == "multiclass" else 1
            spec = ModelSpec.mlp(n_features, task, n_outputs=outputs)  # type: ignore[arg-type]
        return StudyPlan(
            model=spec,
            training=training,
            learner=learner,
            init_seed=config.seed,
            round_timeout_s=0.0,
            revocation=demo_policy(config.shards) if config.unlearn else RevocationPolicy(),
            privacy=PrivacySpec(
                mode=mode,
                threshold=majority_threshold(config.hospitals) if secagg else 0,
                dp=dp,
            ),
            # exact Shapley values per round (at most 8 hospitals: 2^8 sub-models, no
            # retraining); values judge model deltas, so only the sgd-delta learner's (and
            # not under secagg, which hides each hospital's delta)
            valuation=(
                "exact"
                if learner == DEFAULT_LEARNER and not secagg and config.shards == 1
                else None  # SISA shards combine each shard with fedavg, unvalued
            ),
        )
    except (MetadataError, ModelSpecError) as exc:
        raise DemoError(f"--learner {learner} does not fit {config.dataset}: {exc}") from exc


def _run_rounds(
    config: DemoConfig,
    study: EmbeddedStudy,
    client: httpx.Client,
    enrolments: list[Enrolment],
    hospitals: list[Address],
    result: DemoResult,
    ev: DemoEvents,
) -> None:
    """The rounds; after `revoke_after` of them, the chosen patients revoke over HTTP."""
    rng = random.Random(config.seed)  # noqa: S311 - picks demo revokers, not keys
    number = 0
    while True:  # `rounds` rounds; with --unlearn, until the head is clean again
        if number == config.revoke_after and number < config.rounds:
            for k, enrolment in enumerate(enrolments):
                chosen = rng.sample(
                    sorted(enrolment.keys),
                    min(config.revocations_per_hospital, len(enrolment.keys)),
                )
                for record_id in chosen:
                    patient = enrolment.keys[record_id]
                    tx, block = revoke_over_http(client, study, patient)
                    result.revoked[patient.address] = hospitals[k]
                    ev.revoked(patient.address, tx, block)
        if study.aggregator.done():  # or dp mode: no hospital can afford another round
            result.ended = study.aggregator.ended
            if result.ended:
                ev.stage(result.ended)
            break
        row = _row(study.run_round(), hospitals)
        result.rounds.append(row)
        ev.round_done(row)
        number += 1


def _audit_study(
    config: DemoConfig,
    study: EmbeddedStudy,
    client: httpx.Client,
    hospitals: list[Address],
    result: DemoResult,
    ev: DemoEvents,
) -> None:
    """Exclusion proofs, the whole audit, and the figures of the study's privacy mode."""
    ev.stage("publishing exclusion proofs and auditing every round")
    proofs_dir = config.out / "proofs"
    study.write_exclusion_proofs(proofs_dir)
    verifier = AuditVerifier(
        study.coordinator,
        study.store,
        ExclusionProofs.load(proofs_dir),
        checks=default_audit_checks(),
    )
    result.audit = verifier.verify(study.study)
    result.epsilon_spent = epsilon_spent(study.coordinator, study.study, hospitals)
    result.patient_epsilon = patients_epsilon(client, study.study, sorted(result.revoked))
    if config.unlearn:
        result.unlearning = unlearn_summary(
            study.coordinator, study.store, study.study, result.rounds, result.audit,
            proofs_dir, sorted(result.revoked), config.shards,
        )  # fmt: skip
    result.secagg = secagg_figures(study.coordinator, study.store, study.study, result.audit)


def run_demo(config: DemoConfig, events: DemoEvents | None = None) -> DemoResult:
    """Run the whole study; the caller writes the outputs (see `api.demo_output`)."""
    ev = events or DemoEvents()
    started = time.perf_counter()
    out = config.out
    out.mkdir(parents=True, exist_ok=True)
    ev.stage(f"splitting {config.dataset} across {config.hospitals} hospitals")
    split = split_dataset(config.dataset, config.hospitals, seed=config.seed)
    classes = int(split.train_union().labels.max()) + 1
    plan = _plan(config, split.test.features.shape[1], split.task, classes)
    where = "the embedded chain" if config.rpc == "eth-tester" else config.rpc
    ev.stage(f"deploying contracts and creating the study on {where}")
    study = EmbeddedStudy.create(
        out,
        hospitals=config.hospitals,
        plan=plan,
        rounds=config.rounds,
        test_set=split.test,
        min_updates=config.hospitals,
        name=f"consentfl-demo-{time.time_ns()}" if config.rpc != "eth-tester" else "consentfl-demo",
        rpc=config.rpc,
        store=None if config.ipfs is None else open_store(config.ipfs),
    )
    try:
        save_manifest(study.coordinator.manifest, out / "deployment.json")
        hospitals = [study.hospital(k) for k in range(config.hospitals)]
        enrolments = []
        for k, records in enumerate(split.hospitals):
            enrolments.append(study.enroll(k, records))
            ev.enrolled(k + 1, len(records))
        # the coordinator relays the patients' signed revocations (and pays their gas)
        relayer = study.coordinator.consents.sender
        services = Services.for_ledger(study.coordinator, relayer=relayer, store=study.store)
        result = DemoResult(
            config=config, study="0x" + bytes(study.study).hex(), api_url="(not started)"
        )
        with serve_api(services) as api_url, httpx.Client(base_url=api_url, timeout=60) as client:
            result.api_url = api_url
            ev.stage(f"patients' web API on {api_url}")
            _run_rounds(config, study, client, enrolments, hospitals, result, ev)
            _audit_study(config, study, client, hospitals, result, ev)
        result.seconds = time.perf_counter() - started
        return result
    finally:
        study.close()
