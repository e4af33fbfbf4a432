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
    JsonOption,
    KeyOption,
    RpcOption,
    StudyOption,
    cli_errors,
    emit,
    fail,
    parse_study,
)
from consent.privacy_mode import PrivacyMode

if TYPE_CHECKING:
    from fl.roles import TrainerOutcome


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


def trainer_command(
    deployment: DeploymentOption,
    study: StudyOption,
    key: KeyOption,
    data: Annotated[Path, typer.Option(help="Training CSV: patient, features, label.")],
    state_dir: Annotated[
        Path | None,
        typer.Option(help="Consent index and round records (default .consentfl/trainer-<addr>)."),
    ] = None,
    rounds: Annotated[
        int | None, typer.Option(min=1, help="Exit once round N-1 is finalized.")
    ] = None,
    proofs_dir: Annotated[
        Path | None, typer.Option(help="Write exclusion proofs of revoked patients here on exit.")
    ] = None,
    poll: Annotated[float, typer.Option(min=0.05, help="Seconds between ledger polls.")] = 1.0,
    rpc: RpcOption = None,
    ipfs: Annotated[
        str | None,
        typer.Option(
            help="IPFS RPC API URL, or a local store directory (default: the manifest's)."
        ),
    ] = None,
    require_mode: Annotated[
        PrivacyMode,
        typer.Option(
            help="Refuse a study whose privacy mode lacks a protection of this one (sealed < "
            "secagg < dp+secagg, sealed < dp < dp+secagg; secagg and dp are incomparable)."
        ),
    ] = PrivacyMode.SEALED,
    attack: Annotated[
        str | None,
        typer.Option(
            help="BENCHMARKS AND TESTS ONLY: submit poisoned updates (label-flip, sign-flip, "
            "scaling, gaussian, alie, ipm; kind:strength). Refused without --allow-attacks "
            "or CONSENTFL_ALLOW_ATTACKS=1."
        ),
    ] = None,
    allow_attacks: Annotated[
        bool, typer.Option(hidden=True, envvar="CONSENTFL_ALLOW_ATTACKS")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Take part in every round: sync consent, train on consented rows only, seal, submit."""
    from api.wiring import consent_view, wire_role
    from chain.store import StoreError
    from consent.formats.privacy import PrivacyModeTooWeakError
    from fl.attacks import Attack
    from fl.errors import FlError
    from fl.roles import StudyPlan, Trainer
    from fl.roles.study_data import load_hospital_data

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with cli_errors():
        wiring = wire_role(rpc, deployment, key, ipfs)
        hospital = wiring.port.sender
        folder = state_dir or Path(".consentfl") / f"trainer-{hospital}"
        view = consent_view(wiring, folder)
        study_ref = parse_study(study)
        try:
            # the file is checked against the study schema before any training or transaction
            plan = StudyPlan.from_json_bytes(
                wiring.store.get(wiring.port.study(study_ref).metadata_cid)
            )
            plan.privacy.require(require_mode)
            dataset = load_hospital_data(data, plan)
        except (FlError, StoreError, PrivacyModeTooWeakError) as exc:
            view.index.close()
            fail(str(exc))
        try:  # an attack is refused here without the explicit opt-in
            trainer = Trainer(
                study=study_ref,
                ledger=wiring.port,
                store=wiring.store,
                consent=view,
                dataset=dataset,
                state_dir=folder,
                plan=plan,
                require_mode=require_mode,
                attack=None if attack is None else Attack.parse(attack),
                allow_attacks=allow_attacks,
            )
        except FlError as exc:
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
