"""`consentfl aggregator`: run a study's aggregator (open rounds, verify, aggregate, finalize),
and `consentfl aggregator init` to create its sealing key and publish the study plan."""

from __future__ import annotations

import json
import logging
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from api.commands._chain_common import (
    JsonOption,
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
    from consent.formats.privacy import PrivacySpec
    from fl.models import ModelSpec
    from fl.preprocess import StudyStats
    from fl.roles import AggregatorOutcome
    from fl.schema import StudySchema


__all__ = ["aggregator_app"]

aggregator_app = typer.Typer(
    name="aggregator",
    help="Run a study's aggregator: `consentfl aggregator --deployment F --study ID --key FILE "
    "--seal-key FILE --rounds N --ipfs URL|DIR`; `aggregator init` prepares the study plan.",
    invoke_without_command=True,
)

IpfsOption = Annotated[
    str | None,
    typer.Option(
        "--ipfs",
        help="IPFS RPC API URL, or a local store directory (default: the deployment manifest's).",
    ),
]


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
    deployment: Annotated[Path | None, typer.Option(help="Deployment manifest JSON.")] = None,
    study: Annotated[str | None, typer.Option(help="Study name or 0x id.")] = None,
    key: Annotated[Path | None, typer.Option(help="Aggregator's hex private key file.")] = None,
    seal_key: Annotated[
        Path | None, typer.Option(help="Aggregator's X25519 key file (from `aggregator init`).")
    ] = None,
    rounds: Annotated[int | None, typer.Option(min=1, help="Rounds to run in total.")] = None,
    ipfs: IpfsOption = None,
    test: Annotated[
        Path | None, typer.Option(help="Held-out test CSV (record_id, features, label).")
    ] = None,
    poll: Annotated[float, typer.Option(min=0.05, help="Seconds between ledger polls.")] = 1.0,
    rpc: RpcOption = None,
    as_json: JsonOption = False,
) -> None:
    """Open rounds, wait for the hospitals (all, or the minimum plus the plan's timeout), verify
    and aggregate their updates, finalize. Restarted, it resumes from the chain."""
    from api.wiring import load_seal_key, wire_role
    from chain.store import StoreError
    from fl.errors import FlError
    from fl.roles import Aggregator, StudyPlan
    from fl.roles.study_data import load_record_data

    if ctx.invoked_subcommand is not None:
        return
    if deployment is None or study is None or key is None or seal_key is None or rounds is None:
        fail("--deployment, --study, --key, --seal-key and --rounds are required")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with cli_errors():
        wiring = wire_role(rpc, deployment, key, ipfs)
        study_ref = parse_study(study)
        try:
            record = wiring.port.study(study_ref)
            plan = StudyPlan.from_json_bytes(wiring.store.get(record.metadata_cid))
            # the test set is read through the study's schema, with its federated statistics
            test_set = None if test is None else load_record_data(test, plan)
        except (FlError, StoreError) as exc:
            fail(str(exc))
        role = Aggregator(
            study=study_ref,
            ledger=wiring.port,
            store=wiring.store,
            seal_key=load_seal_key(seal_key),
            rounds=rounds,
            test_set=test_set,
            plan=plan,
            # each round's judgement on chain, when the deployment has the Contributions contract
            contributions=None if wiring.ledger.contributions is None else wiring.port,
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
    seal_key_out: Annotated[Path, typer.Option(help="Where to write the X25519 key (0600).")],
    ipfs: Annotated[str, typer.Option(help="IPFS RPC API URL, or a local store directory.")],
    data: Annotated[
        Path | None, typer.Option(help="A sample CSV of the study's data (record_id or patient).")
    ] = None,
    schema: SchemaFileOption = None,
    task: TaskOption = None,
    label: LabelOption = None,
    classes: ClassesOption = None,
    categorical: CategoricalOption = None,
    missing: MissingOption = MissingChoice.REFUSE,
    unknown_levels: UnknownOption = UnknownChoice.REFUSE,
    standardize: StandardizeOption = True,
    stats: Annotated[
        list[Path] | None,
        typer.Option(
            "--stats",
            help="A hospital's `data stats` output; repeat for each (statistics agreed offline). "
            "Without it, a schema that standardizes or imputes makes round 0 the statistics "
            "round: every hospital sends the sums of its consented rows through the protocol.",
        ),
    ] = None,
    model: Annotated[str, typer.Option(help="Model kind: linear or mlp.")] = "linear",
    hidden: Annotated[str, typer.Option(help="Hidden widths for mlp, e.g. 64,32.")] = "64,32",
    epochs: Annotated[int, typer.Option(min=1, help="Local epochs per round.")] = 1,
    batch_size: Annotated[int, typer.Option(min=1, help="Local mini-batch size.")] = 32,
    lr: Annotated[float, typer.Option(help="Local learning rate.")] = 0.05,
    round_timeout: Annotated[
        float, typer.Option(min=0, help="Seconds to wait for stragglers once the minimum is in.")
    ] = 60.0,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the initial model.")] = 0,
    auditor_key: Annotated[
        list[str] | None,
        typer.Option(
            "--auditor-key",
            help="An auditor's X25519 public key (0x + 64 hex, from `audit keygen`); every "
            "update is sealed to it too. Repeat for several auditors.",
        ),
    ] = None,
    learner: Annotated[
        str | None,
        typer.Option(
            help="sgd-delta (default), ridge or least-squares (closed form, regression), "
            "kmeans (clustering; the default there)."
        ),
    ] = None,
    privacy_mode: Annotated[
        str,
        typer.Option(
            help="sealed (updates sealed to the aggregator), secagg (secure aggregation: the "
            "aggregator learns only the sum; needs --threshold), dp (record-level DP-SGD with an "
            "on-chain budget; needs --dp-terms) or dp+secagg (both)."
        ),
    ] = "sealed",
    threshold: Annotated[
        int, typer.Option(min=0, help="secagg: t of t-of-n (>= 2; rounds below it abort).")
    ] = 0,
    dp_terms: Annotated[
        Path | None,
        typer.Option(
            help="dp modes: a JSON file of the DP terms (epsilon, delta, noise_multiplier, "
            "max_grad_norm, sample_rate, steps_per_round, orders)."
        ),
    ] = None,
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
    from fl.errors import FlError, SchemaError
    from fl.roles import StudyPlan
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
            built = request.build() if request.given else None
            if built is None and data is None:
                raise SchemaError("give --schema, or --data with --task and --label")
            if built is not None:
                spec, federated = _spec(built, model, hidden), _stats(list(stats or []))
            else:
                assert data is not None
                spec, federated = _legacy_spec(data, model, hidden), None
            chosen = learner or ("kmeans" if spec.task == "clustering" else "sgd-delta")
            plan = StudyPlan(
                model=spec,
                learner=chosen,
                training=LocalTrainingConfig(epochs=epochs, batch_size=batch_size, lr=lr),
                init_seed=seed,
                round_timeout_s=round_timeout,
                schema=built,
                stats=federated,
                auditor_seal_keys=tuple(
                    bytes.fromhex(k.removeprefix("0x")) for k in auditor_key or ()
                ),
                privacy=_privacy(privacy_mode, threshold, dp_terms),
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
