"""`consentfl audit verify`: check a study's rounds, artifacts and exclusion proofs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from api.commands._chain_common import (
    DeploymentOption,
    JsonOption,
    RpcOption,
    StudyOption,
    cli_errors,
    fail,
    parse_study,
)
from api.commands.audit_replay import AuditorKeyOption, keygen, noise_seed, replay

if TYPE_CHECKING:
    from rich.table import Table

    from chain.audit import AuditReport

__all__ = ["audit_app"]

audit_app = typer.Typer(name="audit", help="Verify a study's history.", no_args_is_help=True)


@audit_app.callback()
def _audit() -> None:
    """Verify a study's history."""


audit_app.command("replay")(replay)
audit_app.command("keygen")(keygen)
audit_app.command("noise-seed")(noise_seed)


def _table(report: AuditReport) -> Table:
    from rich.table import Table

    table = Table(title=f"audit: {len(report.checks)} checks, {len(report.failures)} failed")
    for column in ("result", "check", "round", "hospital", "subject", "detail"):
        table.add_column(column, overflow="fold")
    for check in sorted(report.checks, key=lambda c: (c.passed, c.round or 0)):
        table.add_row(
            "[green]pass[/]" if check.passed else "[bold red]FAIL[/]",
            check.check,
            "" if check.round is None else str(check.round),
            check.hospital or "",
            check.subject,
            check.detail,
        )
    return table


@audit_app.command("verify")
def verify(
    deployment: DeploymentOption,
    study: StudyOption,
    ipfs: Annotated[
        str | None,
        typer.Option(
            "--ipfs",
            envvar="CONSENTFL_IPFS",
            help="IPFS API URL or store directory (default: the deployment manifest's).",
        ),
    ] = None,
    rpc: RpcOption = None,
    proofs: Annotated[
        Path | None, typer.Option("--proofs", help="Directory of published exclusion proofs.")
    ] = None,
    html: Annotated[
        Path | None, typer.Option("--html", help="Also write a readable HTML report here.")
    ] = None,
    auditor_key: AuditorKeyOption = None,
    validation: Annotated[
        Path | None,
        typer.Option(
            "--validation",
            help="The aggregator's validation CSV (with --auditor-key): FLTrust's root update "
            "and contribution values are recomputed on it.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Walk every round; print a pass/fail table (or JSON); exit 1 if any check fails. With
    --auditor-key, also open every sealed update and recompute every finalized model (and, when
    the plan judges updates, every decision and contribution value; see `api.auditing`)."""
    from api.auditing import audit_checks
    from api.wiring import open_artifacts, open_ledger
    from chain.audit import AuditVerifier
    from chain.exclusions import ExclusionProofs

    with cli_errors():
        ledger = open_ledger(rpc, deployment, None)
        found = ExclusionProofs.load(proofs) if proofs is not None else ExclusionProofs()
        store = open_artifacts(ipfs, ledger.manifest)
        study_id = parse_study(study)
        if validation is not None and auditor_key is None:
            fail("--validation needs --auditor-key (the recomputation opens the updates)")
        checks = audit_checks(ledger, store, study_id, auditor_key, validation)
        report = AuditVerifier(ledger, store, found, checks=checks).verify(study_id)
    _emit_report(report, html, as_json)


def _emit_report(report: AuditReport, html: Path | None, as_json: bool) -> None:
    """Write the HTML report if asked; print the table (or JSON); exit 1 unless it passed."""
    from rich.console import Console

    from api.report import render_audit_html

    if html is not None:
        html.write_text(render_audit_html(report))
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2))
    else:
        console = Console(width=200)
        console.print(_table(report))
        for failure in report.failures:
            where = f"round {failure.round}" if failure.round is not None else "study"
            hospital = f", hospital {failure.hospital}" if failure.hospital else ""
            typer.echo(
                f"FAILED {failure.check} ({where}{hospital}): {failure.subject}: {failure.detail}",
                err=True,
            )
        typer.echo("audit passed" if report.passed else "audit FAILED")
    if not report.passed:
        raise typer.Exit(1)
