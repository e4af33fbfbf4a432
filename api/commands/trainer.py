"""`consentfl trainer`: a hospital's trainer process (consent-filtered local training per round)."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from api.commands._chain_common import (
    DeploymentOption,
    IpfsOption,
    JsonOption,
    KeyOption,
    PollOption,
    RpcOption,
    StudyOption,
    cli_errors,
    emit,
    fail,
    parse_study,
)
from consent.privacy_mode import PrivacyMode

if TYPE_CHECKING:
    from api.wiring import RoleWiring
    from chain.consent_view import ChainConsentView
    from consent.ids import StudyId
    from fl.roles import Trainer, TrainerOutcome


__all__ = ["trainer_command"]


def _describe(outcome: TrainerOutcome) -> str:
    if outcome.usage is None:
        return f"round {outcome.round}: not submitted ({outcome.skipped})"
    usage = outcome.usage
    dropped = ", ".join(f"{reason} {n}" for reason, n in sorted(usage.dropped_rows.items()))
    stale = (
        f"; stale refusals {outcome.stale_refusals}, retrained {outcome.retrained}"
        if outcome.stale_refusals
        else ""
    )
    return (
        f"round {outcome.round}: trained on {usage.num_samples} rows of {len(usage.patients)} "
        f"patients at consent block {usage.consent_block}; dropped rows: {dropped or 'none'}"
        + stale
    )


def _payload(outcome: TrainerOutcome) -> dict[str, object]:
    usage = outcome.usage
    return {
        "round": outcome.round,
        "skipped": outcome.skipped,
        "stale_refusals": outcome.stale_refusals,
        "retrained": outcome.retrained,
        "num_samples": None if usage is None else usage.num_samples,
        "patients": None if usage is None else len(usage.patients),
        "consent_block": None if usage is None else usage.consent_block,
        "data_root": None if usage is None else "0x" + bytes(usage.data_root).hex(),
        "update_cid": None if usage is None else usage.update_cid,
        "dropped_rows": {} if usage is None else {str(k): v for k, v in usage.dropped_rows.items()},
    }


DataOption = Annotated[Path, typer.Option(help="Training CSV: patient, features, label.")]
StateDirOption = Annotated[
    Path | None,
    typer.Option(
        help="Consent index and round records (default .consentfl/trainer-ADDRESS, ADDRESS "
        "the hospital's)."
    ),
]
RoundsOption = Annotated[int | None, typer.Option(min=1, help="Exit once round N-1 is finalized.")]
ProofsDirOption = Annotated[
    Path | None, typer.Option(help="Write exclusion proofs of revoked patients here on exit.")
]
RequireModeOption = Annotated[
    PrivacyMode,
    typer.Option(
        help="Refuse a study whose privacy mode lacks a protection of this one (sealed < "
        "secagg < dp+secagg, sealed < dp < dp+secagg; secagg and dp are incomparable)."
    ),
]
AttackOption = Annotated[
    str | None,
    typer.Option(
        help="BENCHMARKS AND TESTS ONLY: submit poisoned updates (label-flip, sign-flip, "
        "scaling, gaussian, alie, ipm; kind:strength). Refused without --allow-attacks "
        "or CONSENTFL_ALLOW_ATTACKS=1."
    ),
]
AllowAttacksOption = Annotated[bool, typer.Option(hidden=True, envvar="CONSENTFL_ALLOW_ATTACKS")]


def trainer_command(
    deployment: DeploymentOption,
    study: StudyOption,
    key: KeyOption,
    data: DataOption,
    state_dir: StateDirOption = None,
    rounds: RoundsOption = None,
    proofs_dir: ProofsDirOption = None,
    poll: PollOption = 1.0,
    rpc: RpcOption = None,
    ipfs: IpfsOption = None,
    require_mode: RequireModeOption = PrivacyMode.SEALED,
    attack: AttackOption = None,
    allow_attacks: AllowAttacksOption = False,
    as_json: JsonOption = False,
) -> None:
    """Take part in every round: sync consent, train on consented rows only, seal, submit."""
    from api.wiring import consent_view, wire_role
    from chain.store import StoreError
    from consent.formats.privacy import PrivacyModeTooWeakError
    from fl.errors import FlError

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with cli_errors():
        wiring = wire_role(rpc, deployment, key, ipfs)
        folder = state_dir or Path(".consentfl") / f"trainer-{wiring.port.sender}"
        view = consent_view(wiring, folder)
        try:
            trainer = _trainer(
                wiring, view, parse_study(study), data, folder, require_mode, attack, allow_attacks
            )
        except (FlError, StoreError, PrivacyModeTooWeakError) as exc:
            view.index.close()
            fail(str(exc))
        try:
            trainer.run(
                poll_interval=poll,
                until_round=rounds,
                stop=stop,
                on_outcome=lambda o: emit(as_json, _payload(o), _describe(o)),
            )
        except (FlError, StoreError, PrivacyModeTooWeakError) as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            fail("interrupted; restart to resume from the chain")
        finally:
            if proofs_dir is not None:
                written = trainer.write_exclusion_proofs(proofs_dir)
                typer.echo(f"wrote {len(written)} exclusion proof(s) to {proofs_dir}", err=True)
            view.index.close()


def _trainer(
    wiring: RoleWiring,
    view: ChainConsentView,
    study: StudyId,
    data: Path,
    folder: Path,
    require_mode: PrivacyMode,
    attack: str | None,
    allow_attacks: bool,
) -> Trainer:
    """The trainer of `study`: its plan read from the store (checked against the study schema
    before any training or transaction) and this hospital's data loaded for it; an attack is
    refused here without the explicit opt-in."""
    from fl.attacks import Attack
    from fl.roles import StudyPlan, Trainer
    from fl.roles.study_data import load_hospital_data

    plan = StudyPlan.from_json_bytes(wiring.store.get(wiring.port.study(study).metadata_cid))
    plan.privacy.require(require_mode)
    return Trainer(
        study=study,
        ledger=wiring.port,
        store=wiring.store,
        consent=view,
        dataset=load_hospital_data(data, plan),
        state_dir=folder,
        plan=plan,
        require_mode=require_mode,
        attack=None if attack is None else Attack.parse(attack),
        allow_attacks=allow_attacks,
    )
