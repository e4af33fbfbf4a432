"""`consentfl aggregator`: run a study's aggregator (open rounds, verify, aggregate, finalize),
and `consentfl aggregator init` to create its sealing key and publish the study plan."""

from __future__ import annotations

import json
import logging
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from api.commands._aggregator_options import (
    AuditorKeyOption,
    BatchSizeOption,
    DataOption,
    DpTermsOption,
    EpochsOption,
    HiddenOption,
    LearnerOption,
    LrOption,
    ModelOption,
    PlanStoreOption,
    PrivacyModeOption,
    RoundTimeoutOption,
    RunDeploymentOption,
    RunKeyOption,
    RunRoundsOption,
    RunSealKeyOption,
    RunStudyOption,
    RunTestOption,
    SealKeyOutOption,
    SeedOption,
    StatsOption,
    ThresholdOption,
)
from api.commands._chain_common import (
    IpfsOption,
    JsonOption,
    PollOption,
    RpcOption,
    cli_errors,
    emit,
    fail,
    parse_study,
)
from api.commands._schema_common import (
    CategoricalOption,
    ClassesOption,
    LabelOption,
    MissingChoice,
    MissingOption,
    SchemaFileOption,
    SchemaRequest,
    StandardizeOption,
    TaskOption,
    UnknownChoice,
    UnknownOption,
)

if TYPE_CHECKING:
    from api.wiring import RoleWiring
    from consent.formats.privacy import PrivacySpec
    from consent.ids import StudyId
    from fl.models import ModelSpec
    from fl.preprocess import StudyStats
    from fl.roles import Aggregator, AggregatorOutcome, StudyPlan
    from fl.schema import StudySchema
    from fl.train import LocalTrainingConfig


__all__ = ["aggregator_app"]

aggregator_app = typer.Typer(
    name="aggregator",
    help="Run a study's aggregator: `consentfl aggregator --deployment F --study ID --key FILE "
    "--seal-key FILE --rounds N --ipfs URL|DIR`; `aggregator init` prepares the study plan.",
    invoke_without_command=True,
)


def _describe(outcome: AggregatorOutcome) -> str:
    test = "" if outcome.test is None else f", test loss {outcome.test.loss:.4f}"
    if outcome.test is not None and hasattr(outcome.test, "accuracy"):
        test += f", accuracy {outcome.test.accuracy:.3f}"
    rejected = "; ".join(f"{r.hospital}: {r.reason}" for r in outcome.rejected)
    return (
        f"round {outcome.round} finalized: {len(outcome.accepted)} updates"
        f"{test}; missing {len(outcome.missing)}" + (f"; rejected {rejected}" if rejected else "")
    )


def _payload(outcome: AggregatorOutcome) -> dict[str, object]:
    return {
        "round": outcome.round,
        "model_cid": outcome.model_cid,
        "metrics_cid": outcome.metrics_cid,
        "accepted": [{"hospital": h, "num_patients": n} for h, n in outcome.accepted],
        "rejected": [{"hospital": r.hospital, "reason": r.reason} for r in outcome.rejected],
        "missing": list(outcome.missing),
        "test": None if outcome.test is None else outcome.test.to_json_dict(),
    }


@aggregator_app.callback()
def aggregator(
    ctx: typer.Context,
    deployment: RunDeploymentOption = None,
    study: RunStudyOption = None,
    key: RunKeyOption = None,
    seal_key: RunSealKeyOption = None,
    rounds: RunRoundsOption = None,
    ipfs: IpfsOption = None,
    test: RunTestOption = None,
    poll: PollOption = 1.0,
    rpc: RpcOption = None,
    as_json: JsonOption = False,
) -> None:
    """Open rounds, wait for the hospitals (all, or the minimum plus the plan's timeout), verify
    and aggregate their updates, finalize. Restarted, it resumes from the chain."""
    from api.wiring import wire_role
    from chain.store import StoreError
    from fl.errors import FlError

    if ctx.invoked_subcommand is not None:
        return
    if deployment is None or study is None or key is None or seal_key is None or rounds is None:
        fail("--deployment, --study, --key, --seal-key and --rounds are required")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with cli_errors():
        role = _aggregator_role(
            wire_role(rpc, deployment, key, ipfs), parse_study(study), seal_key, rounds, test
        )
        try:
            role.run(
                poll_interval=poll,
                stop=stop,
                on_outcome=lambda o: emit(as_json, _payload(o), _describe(o)),
            )
        except (FlError, StoreError) as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            fail("interrupted; restart to resume from the chain")


def _aggregator_role(
    wiring: RoleWiring, study: StudyId, seal_key: Path, rounds: int, test: Path | None
) -> Aggregator:
    """The aggregator of `study`: its plan read from the store, the held-out test set read
    through the study's schema (with its federated statistics)."""
    from api.wiring import load_seal_key
    from chain.store import StoreError
    from fl.errors import FlError
    from fl.roles import Aggregator, StudyPlan
    from fl.roles.study_data import load_record_data

    try:
        plan = StudyPlan.from_json_bytes(wiring.store.get(wiring.port.study(study).metadata_cid))
        test_set = None if test is None else load_record_data(test, plan)
    except (FlError, StoreError) as exc:
        fail(str(exc))
    return Aggregator(
        study=study,
        ledger=wiring.port,
        store=wiring.store,
        seal_key=load_seal_key(seal_key),
        rounds=rounds,
        test_set=test_set,
        plan=plan,
        # each round's judgement on chain, when the deployment has the Contributions contract
        contributions=None if wiring.ledger.contributions is None else wiring.port,
    )


def _spec(schema: StudySchema, model: str, hidden: str) -> ModelSpec:
    from fl.data import Task
    from fl.models import ModelSpec

    task: Task
    if schema.task.kind == "clustering":
        assert schema.task.k is not None  # the schema requires k for clustering
        return ModelSpec.kmeans(len(schema.feature_names()), schema.task.k)
    task = {"binary": "classification", "multiclass": "multiclass"}.get(  # type: ignore[assignment]
        schema.task.kind, "regression"
    )
    outputs = schema.task.n_classes if task == "multiclass" else 1
    width = len(schema.feature_names())
    if model == "linear":
        return ModelSpec.linear(width, task, n_outputs=outputs)
    return ModelSpec.mlp(width, task, tuple(int(h) for h in hidden.split(",")), n_outputs=outputs)


def _stats(files: list[Path]) -> StudyStats | None:
    """The statistics the hospitals combined offline, or None: round 0 is then the statistics
    round (when the schema standardizes or imputes; `fl.learners.statistics`)."""
    from fl.preprocess import LocalStats, combine

    if not files:
        return None
    parts = [LocalStats.from_json_dict(json.loads(f.read_text(encoding="utf-8"))) for f in files]
    return combine(parts)  # the plan checks they fit the schema


def _legacy_spec(data: Path, model: str, hidden: str) -> ModelSpec:
    from fl.data import HospitalDataset, RecordDataset, load_hospital_csv, load_record_csv
    from fl.errors import FlError
    from fl.models import ModelSpec

    sample: RecordDataset | HospitalDataset
    try:
        sample = load_record_csv(data)
    except FlError:
        sample = load_hospital_csv(data)
    n_features, task = sample.features.shape[1], sample.task
    typer.echo(
        f"note: no --task or --schema: task {task} taken from the labels of {data} "
        "(pass --task/--label or --schema to say what the study learns)",
        err=True,
    )
    if model == "linear":
        return ModelSpec.linear(n_features, task)
    return ModelSpec.mlp(n_features, task, tuple(int(h) for h in hidden.split(",")))


def _privacy(mode: str, threshold: int, dp_terms: Path | None) -> PrivacySpec:
    """The plan's one privacy-mode field; raises `FormatError` / `DpTermsError` (named) on
    parameters that do not fit the mode."""
    from consent.formats.privacy import PrivacySpec
    from consent.privacy import DpTerms
    from consent.privacy_mode import PrivacyMode

    try:
        chosen = PrivacyMode(mode)
    except ValueError:
        known = ", ".join(m.value for m in PrivacyMode)
        raise typer.BadParameter(f"choose {known}", param_hint="--privacy-mode") from None
    if chosen.dp and dp_terms is None:
        raise typer.BadParameter(f"mode {mode} needs --dp-terms", param_hint="--dp-terms")
    if not chosen.dp and dp_terms is not None:
        raise typer.BadParameter(f"mode {mode} takes no --dp-terms", param_hint="--dp-terms")
    dp = None if dp_terms is None else DpTerms.from_json_dict(json.loads(dp_terms.read_bytes()))
    return PrivacySpec(mode=chosen, threshold=threshold if chosen.secagg else 0, dp=dp)


@aggregator_app.command("init")
def init(
    seal_key_out: SealKeyOutOption,
    ipfs: PlanStoreOption,
    data: DataOption = None,
    schema: SchemaFileOption = None,
    task: TaskOption = None,
    label: LabelOption = None,
    classes: ClassesOption = None,
    categorical: CategoricalOption = None,
    missing: MissingOption = MissingChoice.REFUSE,
    unknown_levels: UnknownOption = UnknownChoice.REFUSE,
    standardize: StandardizeOption = True,
    stats: StatsOption = None,
    model: ModelOption = "linear",
    hidden: HiddenOption = "64,32",
    epochs: EpochsOption = 1,
    batch_size: BatchSizeOption = 32,
    lr: LrOption = 0.05,
    round_timeout: RoundTimeoutOption = 60.0,
    seed: SeedOption = 0,
    auditor_key: AuditorKeyOption = None,
    learner: LearnerOption = None,
    privacy_mode: PrivacyModeOption = "sealed",
    threshold: ThresholdOption = 0,
    dp_terms: DpTermsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create the aggregator's sealing key and put the study plan (schema, model, training
    config; the federated preprocessing statistics come from round 0, or from --stats) in the
    store. The schema comes from
    --schema, or from the --data sample with --task, --label (and --classes, --categorical).
    Pass the printed public key and CID to `consentfl study create --seal-key --metadata-cid`."""
    from api.wiring import new_seal_key
    from chain.store import StoreError, open_store
    from consent.formats import FormatError
    from consent.privacy import DpTermsError
    from fl.errors import FlError
    from fl.train import LocalTrainingConfig

    with cli_errors():
        request = SchemaRequest(
            schema,
            data,
            task,
            label,
            classes,
            categorical,
            None,
            missing,
            unknown_levels,
            standardize,
        )
        try:
            plan = _init_plan(
                request,
                data,
                (model, hidden),
                stats,
                learner,
                LocalTrainingConfig(epochs=epochs, batch_size=batch_size, lr=lr),
                (seed, round_timeout),
                auditor_key,
                _privacy(privacy_mode, threshold, dp_terms),
            )
            cid = open_store(ipfs).put(plan.to_json_bytes())
        except (FlError, StoreError, FormatError, DpTermsError, OSError) as exc:
            fail(str(exc))
        public = new_seal_key(seal_key_out)
    payload = {
        "seal_public_key": "0x" + public.hex(),
        "metadata_cid": cid,
        "plan": json.loads(plan.to_json_bytes()),
    }
    emit(
        as_json,
        payload,
        f"seal key: {seal_key_out}\nseal public key: 0x{public.hex()}\nmetadata CID: {cid}",
    )


def _init_plan(
    request: SchemaRequest,
    data: Path | None,
    model: tuple[str, str],
    stats: list[Path] | None,
    learner: str | None,
    training: LocalTrainingConfig,
    seeding: tuple[int, float],
    auditor_keys: list[str] | None,
    privacy: PrivacySpec,
) -> StudyPlan:
    """`aggregator init`'s plan: the schema (or the legacy sample), the model `(kind, hidden)`,
    the learner (kmeans for clustering by default), `seeding` = (init seed, round timeout)."""
    from fl.errors import SchemaError
    from fl.roles import StudyPlan

    built = request.build() if request.given else None
    if built is None and data is None:
        raise SchemaError("give --schema, or --data with --task and --label")
    kind, hidden = model
    if built is not None:
        spec, federated = _spec(built, kind, hidden), _stats(list(stats or []))
    else:
        assert data is not None
        spec, federated = _legacy_spec(data, kind, hidden), None
    return StudyPlan(
        model=spec,
        learner=learner or ("kmeans" if spec.task == "clustering" else "sgd-delta"),
        training=training,
        init_seed=seeding[0],
        round_timeout_s=seeding[1],
        schema=built,
        stats=federated,
        auditor_seal_keys=tuple(bytes.fromhex(k.removeprefix("0x")) for k in auditor_keys or ()),
        privacy=privacy,
    )
