"""`consentfl data ...`: prepare datasets: split a bundled data set or any CSV across simulated
hospitals, build and check a study schema, compute a hospital's preprocessing sums."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from api.commands._schema_common import (
    CategoricalOption,
    ClassesOption,
    KOption,
    LabelOption,
    MissingChoice,
    MissingOption,
    SchemaFileOption,
    SchemaRequest,
    StandardizeOption,
    TaskOption,
    UnknownChoice,
    UnknownOption,
    read_schema_file,
)

if TYPE_CHECKING:
    from fl.split import DatasetName, Skew, Split

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
    DIGITS = "digits"
    WINE = "wine"


class SkewChoice(StrEnum):
    DIRICHLET = "dirichlet"
    SHARDS = "shards"


_DATASET_NAMES: dict[DatasetChoice, DatasetName] = {
    DatasetChoice.BREAST_CANCER: "breast-cancer",
    DatasetChoice.DIABETES: "diabetes",
    DatasetChoice.DIGITS: "digits",
    DatasetChoice.WINE: "wine",
}
_SKEWS: dict[SkewChoice, Skew] = {SkewChoice.DIRICHLET: "dirichlet", SkewChoice.SHARDS: "shards"}


def _describe(split: Split, out: Path) -> str:
    mix = "label-skewed " + str(split.skew) if split.non_iid else "IID"
    parts = []
    for k, hospital in enumerate(split.hospitals, start=1):
        mean = float(hospital.labels.mean())
        balance = {
            "classification": f"{mean:.0%} positive",
            "regression": f"mean label {mean:+.2f}",
        }.get(split.task, f"{len(set(hospital.labels.tolist()))} classes")
        parts.append(f"hospital-{k} {len(hospital)} rows ({balance})")
    return (
        f"{split.dataset} split {mix} into {len(split.hospitals)} hospitals in {out}: "
        f"{'; '.join(parts)}; test {len(split.test)} rows"
    )


HospitalsOption = Annotated[int, typer.Option(min=1, help="Number of hospitals K.")]
SplitOutOption = Annotated[
    Path, typer.Option(help="Directory for hospital-K.csv, test.csv, split.json.")
]
NonIidOption = Annotated[bool, typer.Option("--non-iid", help="Skew label mixes across hospitals.")]
SkewOption = Annotated[SkewChoice, typer.Option(help="Label-skew method with --non-iid.")]
AlphaOption = Annotated[float, typer.Option(help="Dirichlet concentration (smaller: more skew).")]
SplitSeedOption = Annotated[int, typer.Option(help="Seed for the split (deterministic).")]
TestFractionOption = Annotated[float, typer.Option(help="Share of rows held out as test set.")]
SplitJsonOption = Annotated[bool, typer.Option("--json", help="Print a JSON summary.")]
DatasetOption = Annotated[DatasetChoice | None, typer.Option(help="Bundled scikit-learn data set.")]
CsvFileOption = Annotated[
    Path | None, typer.Option("--csv", help="Your own CSV (with --schema) instead.")
]


@data_app.command("split")
def split_command(
    hospitals: HospitalsOption,
    out: SplitOutOption,
    non_iid: NonIidOption = False,
    skew: SkewOption = SkewChoice.DIRICHLET,
    alpha: AlphaOption = 0.5,
    seed: SplitSeedOption = 0,
    test_fraction: TestFractionOption = 0.2,
    json_output: SplitJsonOption = False,
    dataset: DatasetOption = None,
    csv_file: CsvFileOption = None,
    schema: SchemaFileOption = None,
) -> None:
    """Split a bundled data set, or your own CSV, into per-hospital CSVs (with a record_id
    column) and a test set.

    A bundled set's features (and a regression target) are standardized with training-set
    statistics. Your own CSV is checked against --schema and written back unencoded (the
    hospitals standardize with federated statistics).
    """
    from rich.console import Console

    from fl.errors import FlError
    from fl.split import split_dataset, write_split

    if (dataset is None) == (csv_file is None):
        Console(stderr=True).print("[red]error:[/red] give --dataset or --csv (with --schema)")
        raise typer.Exit(code=2)
    if csv_file is not None:
        _split_csv(csv_file, schema, hospitals, out, non_iid, seed, test_fraction, skew, alpha)
        return
    assert dataset is not None
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


def _split_csv(
    source: Path,
    schema_file: Path | None,
    hospitals: int,
    out: Path,
    non_iid: bool,
    seed: int,
    test_fraction: float,
    skew: SkewChoice,
    alpha: float,
) -> None:
    from rich.console import Console

    from fl.errors import FlError
    from fl.split_csv import split_csv

    if schema_file is None:
        Console(stderr=True).print("[red]error:[/red] --csv needs --schema (see `data schema`)")
        raise typer.Exit(code=2)
    try:
        result = split_csv(
            source,
            read_schema_file(schema_file),
            hospitals,
            out,
            non_iid=non_iid,
            seed=seed,
            test_fraction=test_fraction,
            skew=_SKEWS[skew],
            alpha=alpha,
        )
    except (FlError, OSError) as exc:
        Console(stderr=True).print(f"[red]error:[/red] {exc}")
        raise typer.Exit(code=2) from exc
    parts = "; ".join(
        f"{p.name} {n} rows" for p, n in zip(result.hospitals, result.rows, strict=True)
    )
    typer.echo(
        f"{source} split {'label-skewed' if non_iid else 'IID'} into {hospitals} "
        f"hospitals in {out}: {parts}; test {result.test_rows} rows"
    )


@data_app.command("schema")
def schema_command(
    data: Annotated[
        list[Path] | None, typer.Option("--data", help="Sample file; repeat to check more.")
    ] = None,
    schema: SchemaFileOption = None,
    task: TaskOption = None,
    label: LabelOption = None,
    classes: ClassesOption = None,
    categorical: CategoricalOption = None,
    k: KOption = None,
    missing: MissingOption = MissingChoice.REFUSE,
    unknown_levels: UnknownOption = UnknownChoice.REFUSE,
    standardize: StandardizeOption = True,
    out: Annotated[Path | None, typer.Option(help="Write the schema JSON here.")] = None,
) -> None:
    """Build a study schema from a sample file and explicit options (or read --schema), print it,
    and check every --data file against it (column, row and problem of the first mismatch)."""
    from rich.console import Console

    from fl.errors import FlError
    from fl.schema import ID_COLUMNS, read_table

    files = list(data or [])
    request = SchemaRequest(
        schema,
        files[0] if files else None,
        task,
        label,
        classes,
        categorical,
        k,
        missing,
        unknown_levels,
        standardize,
    )
    try:
        built = request.build()
        checked = []
        for path in files:
            with path.open(encoding="utf-8-sig") as handle:
                header = handle.readline()
            id_column = next((c for c in ID_COLUMNS if c in header.strip().split(",")), None)
            checked.append((path, len(read_table(path, built, id_column=id_column))))
    except (FlError, OSError) as exc:
        Console(stderr=True).print(f"[red]error:[/red] {exc}")
        raise typer.Exit(code=2) from exc
    text = json.dumps(built.to_json_dict(), indent=2)
    if out is not None:
        out.write_text(text + "\n", encoding="utf-8")
    typer.echo(text)
    for path, rows in checked:
        typer.echo(f"ok: {path} matches the schema ({rows} rows)", err=True)


@data_app.command("stats")
def stats_command(
    schema: Annotated[Path, typer.Option("--schema", help="The study schema JSON.")],
    data: Annotated[Path, typer.Option("--data", help="This hospital's CSV.")],
    out: Annotated[Path, typer.Option(help="Where to write the sums (JSON, no rows).")],
) -> None:
    """A hospital's preprocessing sums (counts, sums, sums of squares, level and class counts),
    for statistics agreed offline: the coordinator's `aggregator init --stats` adds every
    hospital's up. (Without --stats, round 0 computes them over the consented rows.)"""
    from rich.console import Console

    from fl.errors import FlError
    from fl.preprocess import LocalStats
    from fl.schema import ID_COLUMNS, read_table

    try:
        built = read_schema_file(schema)
        with data.open(encoding="utf-8-sig") as handle:
            header = handle.readline().strip().split(",")
        id_column = next((c for c in ID_COLUMNS if c in header), None)
        local = LocalStats.of(read_table(data, built, id_column=id_column))
    except (FlError, OSError) as exc:
        Console(stderr=True).print(f"[red]error:[/red] {exc}")
        raise typer.Exit(code=2) from exc
    out.write_text(json.dumps(local.to_json_dict()) + "\n", encoding="utf-8")
    typer.echo(f"wrote the sums of {local.rows} rows to {out}")
