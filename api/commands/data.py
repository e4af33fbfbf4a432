"""`consentfl data ...`: prepare datasets (split a bundled data set across simulated hospitals)."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from fl.errors import FlError
from fl.split import DatasetName, Skew, Split, split_dataset, write_split

__all__ = ["data_app"]

data_app = typer.Typer(
    name="data",
    help="Prepare datasets: split a bundled data set across simulated hospitals.",
    no_args_is_help=True,
)


@data_app.callback()
def _data() -> None:
    """Prepare datasets: split a bundled data set across simulated hospitals."""
    # A callback keeps `data` a command group even while it has a single sub-command.


class DatasetChoice(StrEnum):
    BREAST_CANCER = "breast-cancer"
    DIABETES = "diabetes"


class SkewChoice(StrEnum):
    DIRICHLET = "dirichlet"
    SHARDS = "shards"


_DATASET_NAMES: dict[DatasetChoice, DatasetName] = {
    DatasetChoice.BREAST_CANCER: "breast-cancer",
    DatasetChoice.DIABETES: "diabetes",
}
_SKEWS: dict[SkewChoice, Skew] = {SkewChoice.DIRICHLET: "dirichlet", SkewChoice.SHARDS: "shards"}


def _describe(split: Split, out: Path) -> str:
    mix = "label-skewed " + str(split.skew) if split.non_iid else "IID"
    parts = []
    for k, hospital in enumerate(split.hospitals, start=1):
        mean = float(hospital.labels.mean())
        balance = (
            f"{mean:.0%} positive" if split.task == "classification" else f"mean label {mean:+.2f}"
        )
        parts.append(f"hospital-{k} {len(hospital)} rows ({balance})")
    return (
        f"{split.dataset} split {mix} into {len(split.hospitals)} hospitals in {out}: "
        f"{'; '.join(parts)}; test {len(split.test)} rows"
    )


@data_app.command("split")
def split_command(
    dataset: Annotated[DatasetChoice, typer.Option(help="Bundled scikit-learn data set.")],
    hospitals: Annotated[int, typer.Option(min=1, help="Number of hospitals K.")],
    out: Annotated[
        Path, typer.Option(help="Directory for hospital-<k>.csv, test.csv, split.json.")
    ],
    non_iid: Annotated[
        bool, typer.Option("--non-iid", help="Skew label mixes across hospitals.")
    ] = False,
    skew: Annotated[
        SkewChoice, typer.Option(help="Label-skew method with --non-iid.")
    ] = SkewChoice.DIRICHLET,
    alpha: Annotated[
        float, typer.Option(help="Dirichlet concentration (smaller: more skew).")
    ] = 0.5,
    seed: Annotated[int, typer.Option(help="Seed for the split (deterministic).")] = 0,
    test_fraction: Annotated[float, typer.Option(help="Share of rows held out as test set.")] = 0.2,
    json_output: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
) -> None:
    """Split a bundled data set into per-hospital CSVs (with a record_id column) and a test set.

    Features (and a regression target) are standardized with training-set statistics.
    """
    try:
        split = split_dataset(
            _DATASET_NAMES[dataset],
            hospitals,
            non_iid=non_iid,
            seed=seed,
            test_fraction=test_fraction,
            skew=_SKEWS[skew],
            alpha=alpha,
        )
        paths = write_split(split, out)
    except FlError as exc:
        Console(stderr=True).print(f"[red]error:[/red] {exc}")
        raise typer.Exit(code=2) from exc
    except OSError as exc:
        Console(stderr=True).print(f"[red]error:[/red] cannot write to {out}: {exc.strerror}")
        raise typer.Exit(code=1) from exc
    if json_output:
        typer.echo(json.dumps({**split.manifest(), "files": [str(p) for p in paths]}))
    else:
        typer.echo(_describe(split, out))
