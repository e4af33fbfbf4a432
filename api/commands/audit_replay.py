"""`consentfl audit replay` (retrain one hospital's round from the rows it disclosed, in the dp
modes with the round's disclosed noise seed), `consentfl audit noise-seed` (run by the hospital:
the seed to disclose) and `consentfl audit keygen` (an auditor's X25519 key, whose public half
goes in the study plan)."""

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
    emit,
    fail,
    parse_study,
)

if TYPE_CHECKING:
    from fl.roles.replay import ReplayFinding

__all__ = ["AuditorKeyOption", "keygen", "noise_seed", "replay"]

AuditorKeyOption = Annotated[
    Path | None,
    typer.Option(
        "--auditor-key",
        help="The auditor's X25519 key file (from `audit keygen`): open every sealed update.",
    ),
]
_IpfsOption = Annotated[
    str | None,
    typer.Option(
        "--ipfs",
        envvar="CONSENTFL_IPFS",
        help="IPFS API URL or store directory (default: the deployment manifest's).",
    ),
]


RoundOption = Annotated[int, typer.Option("--round", min=0, help="The round to replay.")]
HospitalOption = Annotated[str, typer.Option("--hospital", help="The hospital's address.")]
DisclosedRowsOption = Annotated[
    Path,
    typer.Option(
        "--data",
        help="The rows the hospital disclosed for the round: its CSV (patient, features, "
        "label), in the order it trained on them.",
    ),
]
ReplayAuditorKeyOption = Annotated[
    Path, typer.Option("--auditor-key", help="The auditor's X25519 key file.")
]
NoiseSeedOption = Annotated[
    int | None,
    typer.Option(
        "--noise-seed",
        min=0,
        help="dp modes: the round's DP noise seed the hospital disclosed "
        "(`consentfl audit noise-seed`).",
    ),
]


def replay(
    deployment: DeploymentOption,
    study: StudyOption,
    round_: RoundOption,
    hospital: HospitalOption,
    data: DisclosedRowsOption,
    auditor_key: ReplayAuditorKeyOption,
    ipfs: _IpfsOption = None,
    rpc: RpcOption = None,
    noise_seed: NoiseSeedOption = None,
    as_json: JsonOption = False,
) -> None:
    """Rebuild the data root from the disclosed rows, retrain from the round's base (in the dp
    modes with the declared noise and the disclosed --noise-seed) and compare with the
    hospital's committed update bit for bit; exit 1 on any mismatch."""
    from api.auditing import read_plan
    from api.wiring import load_seal_key, open_artifacts, open_ledger
    from consent.ids import parse_address
    from fl.data import load_hospital_csv
    from fl.errors import FlError
    from fl.roles.replay import replay_round

    with cli_errors():
        ledger = open_ledger(rpc, deployment, None)
        store = open_artifacts(ipfs, ledger.manifest)
        study_id = parse_study(study)
        plan = read_plan(ledger, store, study_id)
        if round_ >= ledger.rounds.round_count(study_id):
            fail(f"round {round_} was never opened")
        try:
            rows = load_hospital_csv(data, task=plan.model.task)
            findings = replay_round(
                plan=plan,
                study=study_id,
                record=ledger.rounds.get_round_record(study_id, round_),
                hospital=parse_address(hospital),
                rows=rows,
                store=store,
                auditor_key=load_seal_key(auditor_key),
                noise_seed=noise_seed,
            )
        except FlError as exc:
            fail(str(exc))
    _emit_findings(findings, round_, hospital, as_json)


def _emit_findings(
    findings: list[ReplayFinding], round_: int, hospital: str, as_json: bool
) -> None:
    """Print the findings (text or JSON); exit 1 unless every one passed."""
    passed = all(f.passed for f in findings)
    payload = {
        "passed": passed,
        "round": round_,
        "hospital": hospital,
        "findings": [{"step": f.step, "passed": f.passed, "detail": f.detail} for f in findings],
    }
    lines = [f"{'pass' if f.passed else 'FAIL'} {f.step}: {f.detail}" for f in findings]
    lines.append("replay passed" if passed else "replay FAILED")
    if as_json:
        typer.echo(json.dumps(payload, indent=2))
    else:
        typer.echo("\n".join(lines))
    if not passed:
        raise typer.Exit(1)


def noise_seed(
    state_dir: Annotated[
        Path, typer.Option("--state-dir", help="The hospital trainer's state directory.")
    ],
    study: StudyOption,
    round_: Annotated[int, typer.Option("--round", min=0, help="The round to disclose.")],
    hospital: Annotated[str, typer.Option("--hospital", help="The hospital's address.")],
    as_json: JsonOption = False,
) -> None:
    """Run by a hospital in a dp study: print the round's DP noise seed, to disclose to the
    auditor with the round's rows (never to the aggregator: it removes the round's noise)."""
    from consent.ids import parse_address
    from fl.roles.errors import RoleError
    from fl.roles.noise_secret import round_noise_seed

    with cli_errors():
        try:
            seed = round_noise_seed(
                state_dir, parse_study(study), round_, parse_address(hospital), create=False
            )
        except RoleError as exc:
            fail(str(exc))
    emit(as_json, {"round": round_, "noise_seed": seed}, str(seed))


def keygen(
    out: Annotated[Path, typer.Option("--out", help="Where to write the X25519 key (0600).")],
    as_json: JsonOption = False,
) -> None:
    """Create an auditor's sealing key; give the printed public key to the coordinator, who lists
    it in the study plan (`aggregator init --auditor-key`) so every update is sealed to it."""
    from api.wiring import new_seal_key

    with cli_errors():
        public = new_seal_key(out)
    emit(
        as_json,
        {"auditor_public_key": "0x" + public.hex(), "key_file": str(out)},
        f"auditor key: {out}\nauditor public key: 0x{public.hex()}",
    )
