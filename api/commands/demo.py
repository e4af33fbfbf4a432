"""`consentfl demo`: run a whole consent-aware study on the embedded chain and store."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from api.commands._chain_common import cli_errors

if TYPE_CHECKING:
    from rich.table import Table

    from api.demo import DemoConfig, DemoResult

__all__ = ["demo"]

_console = Console()


def _short(cid: str) -> str:
    """A CID shortened for the table (summary.json has it whole)."""
    return cid if len(cid) <= 18 else f"{cid[:11]}…{cid[-6:]}"


def _round_table(result: DemoResult) -> Table:
    from rich.table import Table

    rows = result.rounds
    metric = rows[0].metric_name if rows else "accuracy"
    table = Table(title="rounds")
    for column in ("round", "hospitals", "samples", "consent block", "model CID", metric):
        table.add_column(column, no_wrap=column in ("samples", "model CID"))
    for row in rows:
        value = "-" if row.metric is None else f"{row.metric:.4f}"
        table.add_row(
            str(row.round),
            str(row.hospitals),
            "/".join(str(n) for n in row.samples.values()),
            str(max(row.consent_blocks.values(), default="-")),
            _short(row.model_cid),
            value,
        )
    return table


def _dropped_table(result: DemoResult) -> Table:
    from rich.table import Table

    table = Table(title="rows left out of training, per hospital and round (and why)")
    for column in ("round", "hospital", "rows dropped", "reasons"):
        table.add_column(column)
    for row in result.rounds:
        for hospital, reasons in row.dropped.items():
            if reasons:
                why = ", ".join(f"{n} {reason}" for reason, n in sorted(reasons.items()))
                table.add_row(str(row.round), hospital, str(sum(reasons.values())), why)
    return table


def _metric(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else "-"


def _print_unlearning(summary: dict[str, object]) -> None:
    rollbacks = summary["rollbacks"]
    assert isinstance(rollbacks, list)
    for rb in rollbacks:
        _console.print(
            f"rollback: round {rb['round']} retrains shard(s) {rb['shards']} from round "
            f"{rb['base_round']}'s base, serving {rb['patients']} revocation(s)"
        )
    lineage, check = summary["head_lineage"], summary["lineage_check"]
    assert isinstance(check, dict)
    verdict = "[green]PASSED[/]" if check["passed"] else "[red]FAILED[/]"
    _console.print(f"retrained head: round {summary['head_round']}, lineage {lineage}")
    _console.print(f"lineage check: {verdict} ({check['checks']} checks)")
    before, after = summary["metric_before_rollback"], summary["metric_after_retraining"]
    _console.print(f"test metric before the rollback {_metric(before)}, after {_metric(after)}")
    status = summary["patient_status"]
    if isinstance(status, dict):
        _console.print(f"a revoked patient's status: {status['message']}")


def _secagg_line(figures: dict[str, Any]) -> str:
    rounds = figures["rounds"]
    recomputed = sum(1 for r in rounds if r["audit_recomputed"])
    sizes = next((r for r in rounds if r["masked_update_bytes"]), None)
    size = (
        ""
        if sizes is None
        else f"; a masked update is {sizes['masked_update_bytes']} bytes for "
        f"{sizes['plain_update_bytes']} plaintext bytes"
    )
    return (
        f"secure aggregation, threshold {figures['threshold']}: the audit recomputed "
        f"{recomputed} of {len(rounds)} round(s) from masked updates and reveals{size}"
    )


_Rounds = Annotated[int, typer.Option(min=1, help="Training rounds.")]
_Hospitals = Annotated[int, typer.Option(min=1, max=8, help="Hospitals in the study.")]
_Dataset = Annotated[
    str,
    typer.Option(
        help="Bundled dataset: breast-cancer, diabetes (regression), digits, wine "
        "(multiclass) or iris (clustering, federated k-means)."
    ),
]
_Learner = Annotated[
    str | None,
    typer.Option(help="Plan learner: sgd-delta, ridge or least-squares (diabetes), kmeans (iris)."),
]
_Out = Annotated[Path, typer.Option(help="Directory for every output.")]
_RevokeAfter = Annotated[
    int, typer.Option(min=0, help="Patients revoke once this many rounds are finalized.")
]
_Revocations = Annotated[
    int, typer.Option(min=0, help="Patients per hospital who revoke through the web API.")
]
_Seed = Annotated[int, typer.Option(help="Seed of the split, the model and the revokers.")]
_LocalEpochs = Annotated[
    int, typer.Option(min=1, help="Local epochs per round (dp mode: 10 DP-SGD steps each).")
]
_Rpc = Annotated[
    str,
    typer.Option(
        help="Chain: eth-tester (in this process) or a node's URL with unlocked dev accounts,"
        " e.g. the anvil of `consentfl dev up`."
    ),
]
_Ipfs = Annotated[
    str | None,
    typer.Option(help="IPFS API URL (e.g. from `consentfl dev up`); default: OUT/store."),
]
_Mode = Annotated[
    str,
    typer.Option(
        help="Privacy mode: sealed, dp (record-level DP-SGD with a budget), secagg "
        "(secure aggregation: the aggregator learns only the sum) or dp+secagg (both)."
    ),
]
_Epsilon = Annotated[
    float, typer.Option(min=0.01, help="dp modes: each hospital's epsilon (delta = 1e-5).")
]
_Unlearn = Annotated[
    bool,
    typer.Option(
        "--unlearn",
        help="Revocation policy unlearn: a revocation rolls the model back to a checkpoint "
        "without the patient and retrains; the audit checks the head's lineage.",
    ),
]
_Shards = Annotated[
    int,
    typer.Option(
        min=1,
        help="With --unlearn: SISA shards per hospital; the model is the ensemble of the "
        "shards' sub-models and a revocation retrains only its patient's shard.",
    ),
]
_AsJson = Annotated[bool, typer.Option("--json", help="Print summary.json only.")]


def demo(
    rounds: _Rounds = 5,
    hospitals: _Hospitals = 3,
    dataset: _Dataset = "breast-cancer",
    learner: _Learner = None,
    out: _Out = Path("demo-out"),
    revoke_after: _RevokeAfter = 2,
    revocations: _Revocations = 2,
    seed: _Seed = 0,
    local_epochs: _LocalEpochs = 5,
    rpc: _Rpc = "eth-tester",
    ipfs: _Ipfs = None,
    mode: _Mode = "sealed",
    epsilon: _Epsilon = 3.0,
    unlearn: _Unlearn = False,
    shards: _Shards = 1,
    as_json: _AsJson = False,
) -> None:
    """Run a whole consent-aware study in one process, end to end.

    Contracts on an embedded chain (or --rpc), a local IPFS-compatible store (or --ipfs), K
    hospitals enrolling patients with patient-signed consents, rounds of federated training,
    patients revoking through the real HTTP API, and an audit of everything at the end. Writes
    deployment.json, summary.json, audit.html, accuracy.png, the artifacts and the exclusion
    proofs into --out; exits 1 if the audit fails.
    """
    from api.demo import DemoConfig
    from api.demo_output import summary_json, write_outputs

    _check_choices(dataset, mode, out)
    logging.basicConfig(level=logging.WARNING)
    with cli_errors():
        config = DemoConfig(
            out=out,
            rounds=rounds,
            hospitals=hospitals,
            dataset=dataset,  # type: ignore[arg-type]
            revoke_after=revoke_after,
            revocations_per_hospital=revocations,
            seed=seed,
            local_epochs=local_epochs,
            rpc=rpc,
            ipfs=ipfs,
            learner=learner,
            mode=mode,  # type: ignore[arg-type]
            epsilon=epsilon,
            unlearn=unlearn,
            shards=shards,
        )
        result = _run_with_progress(config, quiet=as_json)
        paths = write_outputs(result)
    if as_json:
        typer.echo(json.dumps(summary_json(result), indent=2))
    else:
        _print_result(result, paths, epsilon)
    if result.audit is None or not result.audit.passed:
        raise typer.Exit(code=1)


def _check_choices(dataset: str, mode: str, out: Path) -> None:
    """Refuse an unknown dataset or mode, or a non-empty --out, before anything runs."""
    if dataset not in ("breast-cancer", "diabetes", "digits", "wine", "iris"):
        raise typer.BadParameter(
            "choose breast-cancer, diabetes, digits, wine or iris", param_hint="--dataset"
        )
    if mode not in ("sealed", "dp", "secagg", "dp+secagg"):
        raise typer.BadParameter("choose sealed, dp, secagg or dp+secagg", param_hint="--mode")
    if out.exists() and any(out.iterdir()):
        raise typer.BadParameter(f"{out} is not empty: choose a new --out", param_hint="--out")


def _run_with_progress(config: DemoConfig, *, quiet: bool) -> DemoResult:
    """`run_demo` with a progress bar (stderr) and a line per enrolment, round and revocation."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from api.demo import DemoError, DemoEvents, RoundRow, run_demo
    from chain.store import StoreError

    console = Console(stderr=True, quiet=quiet)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        study_task = progress.add_task("study", total=config.hospitals + config.rounds)

        def round_done(row: RoundRow) -> None:
            progress.advance(study_task)
            metric = "-" if row.metric is None else f"{row.metric:.4f}"
            dropped = sum(n for reasons in row.dropped.values() for n in reasons.values())
            progress.console.print(
                f"round {row.round}: {row.hospitals} hospitals, "
                f"{sum(row.samples.values())} samples, {dropped} rows dropped, "
                f"{row.metric_name} {metric}"
            )

        def enrolled(k: int, n: int) -> None:
            progress.advance(study_task)
            progress.console.print(f"hospital-{k}: enrolled {n} patients (each signed)")

        events = DemoEvents(
            stage=lambda msg: progress.update(study_task, description=msg),
            enrolled=enrolled,
            round_done=round_done,
            revoked=lambda p, tx, b: progress.console.print(
                f"patient {p} revoked over HTTP (tx {tx[:12]}…, block {b})"
            ),
        )
        try:
            return run_demo(config, events)
        except (StoreError, DemoError) as exc:
            raise ValueError(str(exc)) from exc


def _print_result(result: DemoResult, paths: dict[str, Path], epsilon: float) -> None:
    """The human summary: tables, privacy and unlearning lines, the audit verdict, the files."""
    _console.print(_round_table(result))
    _console.print(_dropped_table(result))
    audit = result.audit
    verdict = "[green]PASSED[/]" if audit is not None and audit.passed else "[red]FAILED[/]"
    checks = 0 if audit is None else len(audit.checks)
    if result.epsilon_spent:
        spent = ", ".join(f"{h} {e:.3f}" for h, e in result.epsilon_spent.items())
        _console.print(f"epsilon spent of {epsilon} (delta 1e-5): {spent}")
    for patient, spent_on in result.patient_epsilon.items():
        _console.print(
            f"patient {patient}: their consent status reports epsilon {spent_on:.3f} "
            "spent on their hospital's data"
        )
    if result.ended:
        _console.print(result.ended)
    if result.unlearning is not None:
        _print_unlearning(result.unlearning)
    if result.secagg:
        _console.print(_secagg_line(result.secagg))
    _console.print(f"audit: {verdict} ({checks} checks)  ->  {paths['audit']}")
    _console.print(f"summary: {paths['summary']}   plot: {paths['plot']}")
    _console.print(f"finished in {result.seconds:.1f} s")
