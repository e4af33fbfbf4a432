"""`consentfl study ...`: create studies and admit hospitals."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from api.commands._chain_common import (
    DeploymentOption,
    JsonOption,
    KeyOption,
    RpcOption,
    StudyOption,
    cli_errors,
    emit,
    parse_study,
)

if TYPE_CHECKING:
    from chain.deploy import Ledger
    from chain.round_metrics import RoundJudgementView
    from chain.store import ArtifactStore
    from consent.ids import StudyId


__all__ = ["study_app"]

study_app = typer.Typer(
    name="study", help="Create studies and manage member hospitals.", no_args_is_help=True
)


@study_app.command("create")
def create(
    deployment: DeploymentOption,
    key: KeyOption,
    study: StudyOption,
    aggregator: Annotated[str, typer.Option(help="Aggregator address (opens/finalizes rounds).")],
    seal_key: Annotated[
        str, typer.Option(help="Aggregator's X25519 public key, 0x + 64 hex digits.")
    ] = "0x" + "00" * 32,
    min_updates: Annotated[int, typer.Option(min=1, help="Updates needed per round.")] = 1,
    metadata_cid: Annotated[str, typer.Option(help="CID of the study's metadata.")] = "",
    purpose: Annotated[
        str | None,
        typer.Option(
            help="The study's DUO research purpose (GRU, HMB or DS-DISEASE, e.g. DS-CANCER), "
            "declared on chain right after creation; only consents covering it count."
        ),
    ] = None,
    methods: Annotated[
        bool, typer.Option(help="The study is methods development research (NMDS refuses it).")
    ] = False,
    rpc: RpcOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a study; the key's account (a coordinator) becomes its coordinator."""
    from api.wiring import open_ledger
    from consent.ids import Bytes32, parse_address, parse_bytes32
    from consent.purposes import StudyPurpose

    with cli_errors():
        declared = None if purpose is None else StudyPurpose.parse(purpose, methods=methods)
        ledger = open_ledger(rpc, deployment, key)
        event = ledger.studies.create_study(
            parse_study(study),
            aggregator=parse_address(aggregator),
            aggregator_seal_key=Bytes32(parse_bytes32(seal_key)),
            min_updates=min_updates,
            metadata_cid=metadata_cid,
        )
        if declared is not None:
            ledger.studies.declare_purpose(event.study, declared)
    study_hex = "0x" + event.study.hex()
    emit(
        as_json,
        {
            "study": study_hex,
            "block": event.position.block_number,
            "tx": event.tx_hash,
            "purpose": None if declared is None else str(declared),
        },
        f"study {study_hex} created in block {event.position.block_number}",
    )


@study_app.command("add-hospital")
def add_hospital(
    deployment: DeploymentOption,
    key: KeyOption,
    study: StudyOption,
    hospital: Annotated[str, typer.Option(help="The hospital's address.")],
    rpc: RpcOption = None,
    as_json: JsonOption = False,
) -> None:
    """Admit a hospital to a study (the study's coordinator only)."""
    from api.wiring import open_ledger
    from consent.ids import parse_address

    with cli_errors():
        ledger = open_ledger(rpc, deployment, key)
        event = ledger.studies.add_hospital(parse_study(study), parse_address(hospital))
    emit(
        as_json,
        {"hospital": event.hospital, "block": event.position.block_number, "tx": event.tx_hash},
        f"hospital {event.hospital} added in block {event.position.block_number}",
    )


@study_app.command("configure-budget")
def configure_budget(
    deployment: DeploymentOption,
    key: KeyOption,
    study: StudyOption,
    plan: Annotated[Path, typer.Option(help="The study plan JSON (its dp terms are used).")],
    rpc: RpcOption = None,
    as_json: JsonOption = False,
) -> None:
    """dp mode: fix the study's privacy budget (its caps) from the plan, once, before round 0."""
    from api.wiring import open_ledger
    from fl.roles import StudyPlan

    with cli_errors():
        terms = StudyPlan.from_json_bytes(plan.read_bytes()).dp
        if terms is None:
            raise ValueError(f"{plan} has no dp terms (modes dp, dp+secagg: extensions.privacy.dp)")
        ledger = open_ledger(rpc, deployment, key)
        if ledger.budget is None:
            raise ValueError("this deployment predates the PrivacyBudget contract")
        event = ledger.budget.configure(parse_study(study), terms)
    emit(
        as_json,
        {"caps": list(event.caps), "block": event.position.block_number},
        f"privacy budget fixed in block {event.position.block_number}: epsilon {terms.epsilon} "
        f"at delta {terms.delta} over {len(event.caps)} orders",
    )


@study_app.command("show")
def show(
    deployment: DeploymentOption,
    study: StudyOption,
    rpc: RpcOption = None,
    ipfs: Annotated[
        str | None,
        typer.Option(
            "--ipfs",
            envvar="CONSENTFL_IPFS",
            help="IPFS API URL or store directory: also list each round's decisions and values.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Show a study and its member hospitals; with --ipfs, each finalized round's decisions
    (kept/rejected, weight, reason) and contribution values, and the cumulative values."""
    from api.wiring import open_ledger
    from chain.round_metrics import cumulative_values
    from chain.store import open_store

    with cli_errors():
        ledger = open_ledger(rpc, deployment, None)
        sid = parse_study(study)
        record = ledger.studies.get_study(sid)
        members = ledger.studies.hospitals(sid)
        judged = [] if ipfs is None else _judgements(ledger, open_store(ipfs), sid)
    payload: dict[str, object] = {
        "study": "0x" + sid.hex(),
        "coordinator": record.coordinator,
        "aggregator": record.aggregator,
        "min_updates": record.min_updates,
        "metadata_cid": record.metadata_cid,
        "created_block": record.created_block,
        "hospitals": list(members),
    }
    lines = [f"{k}: {v}" for k, v in payload.items()]
    if ipfs is not None:
        payload["rounds"] = [
            {"round": j.round, "decisions": list(j.decisions), "contributions": j.contributions}
            for j in judged
        ]
        payload["cumulative_values"] = cumulative_values(judged)
        lines += _judgement_lines(judged)
    emit(as_json, payload, "\n".join(lines))


def _judgements(ledger: Ledger, store: ArtifactStore, sid: StudyId) -> list[RoundJudgementView]:
    from chain.round_metrics import read_judgement

    found = []
    for r in range(ledger.rounds.round_count(sid)):
        view = read_judgement(store, ledger.rounds.get_round(sid, r).record())
        if view is not None:
            found.append(view)
    return found


def _judgement_lines(judged: list[RoundJudgementView]) -> list[str]:
    from chain.round_metrics import cumulative_values

    lines = []
    for view in judged:
        lines.append(f"round {view.round}:")
        values = {
            str(v["hospital"]): float(v["value"])
            for v in (view.contributions or {}).get("values", [])
        }
        for d in view.decisions:
            fate = "kept" if d["kept"] else "REJECTED"
            value = values.get(str(d["hospital"]))
            shown = "" if value is None else f" value {value:+.4f}"
            lines.append(
                f"  {d['hospital']} {fate} weight {float(d['weight']):.3f}{shown} ({d['reason']})"
            )
    for hospital, total in cumulative_values(judged).items():
        lines.append(f"cumulative value {hospital}: {total:+.4f}")
    return lines
