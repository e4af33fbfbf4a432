"""The options of `consentfl aggregator init` (typer `Annotated` types, one per option)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = [
    "AuditorKeyOption",
    "BatchSizeOption",
    "DataOption",
    "DpTermsOption",
    "EpochsOption",
    "HiddenOption",
    "LearnerOption",
    "LrOption",
    "ModelOption",
    "PlanStoreOption",
    "PrivacyModeOption",
    "RoundTimeoutOption",
    "RunDeploymentOption",
    "RunKeyOption",
    "RunRoundsOption",
    "RunSealKeyOption",
    "RunStudyOption",
    "RunTestOption",
    "SealKeyOutOption",
    "SeedOption",
    "StatsOption",
    "ThresholdOption",
]

SealKeyOutOption = Annotated[Path, typer.Option(help="Where to write the X25519 key (0600).")]
PlanStoreOption = Annotated[str, typer.Option(help="IPFS RPC API URL, or a local store directory.")]
DataOption = Annotated[
    Path | None, typer.Option(help="A sample CSV of the study's data (record_id or patient).")
]
StatsOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--stats",
        help="A hospital's `data stats` output; repeat for each (statistics agreed offline). "
        "Without it, a schema that standardizes or imputes makes round 0 the statistics "
        "round: every hospital sends the sums of its consented rows through the protocol.",
    ),
]
ModelOption = Annotated[str, typer.Option(help="ModelOption kind: linear or mlp.")]
HiddenOption = Annotated[str, typer.Option(help="HiddenOption widths for mlp, e.g. 64,32.")]
EpochsOption = Annotated[int, typer.Option(min=1, help="Local epochs per round.")]
BatchSizeOption = Annotated[int, typer.Option(min=1, help="Local mini-batch size.")]
LrOption = Annotated[float, typer.Option(help="Local learning rate.")]
RoundTimeoutOption = Annotated[
    float, typer.Option(min=0, help="Seconds to wait for stragglers once the minimum is in.")
]
SeedOption = Annotated[int, typer.Option(min=0, help="SeedOption of the initial model.")]
AuditorKeyOption = Annotated[
    list[str] | None,
    typer.Option(
        "--auditor-key",
        help="An auditor's X25519 public key (0x + 64 hex, from `audit keygen`); every "
        "update is sealed to it too. Repeat for several auditors.",
    ),
]
LearnerOption = Annotated[
    str | None,
    typer.Option(
        help="sgd-delta (default), ridge or least-squares (closed form, regression), "
        "kmeans (clustering; the default there)."
    ),
]
PrivacyModeOption = Annotated[
    str,
    typer.Option(
        help="sealed (updates sealed to the aggregator), secagg (secure aggregation: the "
        "aggregator learns only the sum; needs --threshold), dp (record-level DP-SGD with an "
        "on-chain budget; needs --dp-terms) or dp+secagg (both)."
    ),
]
ThresholdOption = Annotated[
    int, typer.Option(min=0, help="secagg: t of t-of-n (>= 2; rounds below it abort).")
]
DpTermsOption = Annotated[
    Path | None,
    typer.Option(
        help="dp modes: a JSON file of the DP terms (epsilon, delta, noise_multiplier, "
        "max_grad_norm, sample_rate, steps_per_round, orders)."
    ),
]

# `consentfl aggregator` (the run): optional here because `init` is a subcommand of the callback
RunDeploymentOption = Annotated[Path | None, typer.Option(help="Deployment manifest JSON.")]
RunStudyOption = Annotated[str | None, typer.Option(help="Study name or 0x id.")]
RunKeyOption = Annotated[Path | None, typer.Option(help="Aggregator's hex private key file.")]
RunSealKeyOption = Annotated[
    Path | None, typer.Option(help="Aggregator's X25519 key file (from `aggregator init`).")
]
RunRoundsOption = Annotated[int | None, typer.Option(min=1, help="Rounds to run in total.")]
RunTestOption = Annotated[
    Path | None, typer.Option(help="Held-out test CSV (record_id, features, label).")
]
