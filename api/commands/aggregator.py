"""`consentfl aggregator`: run a study's aggregator (open rounds, verify, aggregate, finalize),
and `consentfl aggregator init` to create its sealing key and publish the study plan."""

from __future__ import annotations

import json
import logging
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from api.commands._chain_common import (
    DEFAULT_RPC,
    JsonOption,
    RpcOption,
    cli_errors,
    emit,
    fail,
    parse_study,
)
from api.wiring import load_seal_key, new_seal_key, wire_role
from chain.store import StoreError, open_store
from fl.data import HospitalDataset, RecordDataset, load_hospital_csv, load_record_csv
from fl.errors import FlError
from fl.models import ModelSpec
from fl.roles import Aggregator, AggregatorOutcome, StudyPlan
from fl.train import LocalTrainingConfig

__all__ = ["aggregator_app"]

aggregator_app = typer.Typer(
    name="aggregator",
    help="Run a study's aggregator: `consentfl aggregator --deployment F --study ID --key FILE "
    "--seal-key FILE --rounds N --ipfs URL|DIR`; `aggregator init` prepares the study plan.",
    invoke_without_command=True,
)

IpfsOption = Annotated[
    str | None, typer.Option("--ipfs", help="IPFS RPC API URL, or a local store directory.")
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
    rpc: RpcOption = DEFAULT_RPC,
    as_json: JsonOption = False,
) -> None:
    """Open rounds, wait for the hospitals (all, or the minimum plus the plan's timeout), verify
    and aggregate their updates, finalize. Restarted, it resumes from the chain."""
    if ctx.invoked_subcommand is not None:
        return
    if (
        deployment is None
        or study is None
        or key is None
        or seal_key is None
        or rounds is None
        or ipfs is None
    ):
        fail("--deployment, --study, --key, --seal-key, --rounds and --ipfs are required")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with cli_errors():
        wiring = wire_role(rpc, deployment, key, ipfs)
        role = Aggregator(
            study=parse_study(study),
            ledger=wiring.port,
            store=wiring.store,
            seal_key=load_seal_key(seal_key),
            rounds=rounds,
            test_set=None if test is None else load_record_csv(test),
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


@aggregator_app.command("init")
def init(
    seal_key_out: Annotated[Path, typer.Option(help="Where to write the X25519 key (0600).")],
    data: Annotated[Path, typer.Option(help="A CSV of the study's data (record_id or patient).")],
    ipfs: Annotated[str, typer.Option(help="IPFS RPC API URL, or a local store directory.")],
    model: Annotated[str, typer.Option(help="Model kind: linear or mlp.")] = "linear",
    hidden: Annotated[str, typer.Option(help="Hidden widths for mlp, e.g. 64,32.")] = "64,32",
    epochs: Annotated[int, typer.Option(min=1, help="Local epochs per round.")] = 1,
    batch_size: Annotated[int, typer.Option(min=1, help="Local mini-batch size.")] = 32,
    lr: Annotated[float, typer.Option(help="Local learning rate.")] = 0.05,
    round_timeout: Annotated[
        float, typer.Option(min=0, help="Seconds to wait for stragglers once the minimum is in.")
    ] = 60.0,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the initial model.")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Create the aggregator's sealing key and put the study plan (model + training config) in
    the store. Pass the printed public key and CID to `consentfl study create --seal-key
    --metadata-cid`."""
    with cli_errors():
        sample: RecordDataset | HospitalDataset
        try:
            sample = load_record_csv(data)
        except FlError:
            sample = load_hospital_csv(data)
        n_features, task = sample.features.shape[1], sample.task
        try:
            spec = (
                ModelSpec.linear(n_features, task)
                if model == "linear"
                else ModelSpec.mlp(n_features, task, tuple(int(h) for h in hidden.split(",")))
            )
            plan = StudyPlan(
                model=spec,
                training=LocalTrainingConfig(epochs=epochs, batch_size=batch_size, lr=lr),
                init_seed=seed,
                round_timeout_s=round_timeout,
            )
            cid = open_store(ipfs).put(plan.to_json_bytes())
        except (FlError, StoreError) as exc:
            fail(str(exc))
        public = new_seal_key(seal_key_out)
    payload = {"seal_public_key": "0x" + public.hex(), "metadata_cid": cid,
               "plan": json.loads(plan.to_json_bytes())}  # fmt: skip
    emit(
        as_json,
        payload,
        f"seal key: {seal_key_out}\nseal public key: 0x{public.hex()}\nmetadata CID: {cid}",
    )
