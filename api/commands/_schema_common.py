"""The schema options shared by `consentfl data schema` and `consentfl aggregator init`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from fl.schema import StudySchema

__all__ = [
    "CategoricalOption",
    "ClassesOption",
    "KOption",
    "LabelOption",
    "MissingChoice",
    "MissingOption",
    "SchemaFileOption",
    "SchemaRequest",
    "StandardizeOption",
    "TaskChoice",
    "TaskOption",
    "UnknownChoice",
    "UnknownOption",
    "read_schema_file",
]


class TaskChoice(StrEnum):
    BINARY = "binary"
    MULTICLASS = "multiclass"
    REGRESSION = "regression"
    CLUSTERING = "clustering"


class MissingChoice(StrEnum):
    REFUSE = "refuse"
    IMPUTE = "impute"


class UnknownChoice(StrEnum):
    REFUSE = "refuse"
    IGNORE = "ignore"


SchemaFileOption = Annotated[
    Path | None, typer.Option("--schema", help="A study schema JSON (instead of --task/--label).")
]
TaskOption = Annotated[
    TaskChoice | None, typer.Option("--task", help="What the study learns (no guessing).")
]
LabelOption = Annotated[str | None, typer.Option("--label", help="The label column.")]
ClassesOption = Annotated[
    str | None,
    typer.Option("--classes", help="Comma-separated class labels (default: the sample's, shown)."),
]
CategoricalOption = Annotated[
    str | None, typer.Option("--categorical", help="Comma-separated categorical columns.")
]
KOption = Annotated[int | None, typer.Option("--k", min=2, help="Clusters (clustering).")]
MissingOption = Annotated[
    MissingChoice, typer.Option("--missing", help="Empty cells: refuse, or impute (federated).")
]
UnknownOption = Annotated[
    UnknownChoice,
    typer.Option("--unknown-levels", help="A level not in the schema: refuse, or encode as 0s."),
]
StandardizeOption = Annotated[
    bool,
    typer.Option("--standardize/--no-standardize", help="Standardize with federated statistics."),
]


def _names(value: str | None) -> list[str]:
    return [] if not value else [v.strip() for v in value.split(",") if v.strip()]


def read_schema_file(path: Path) -> StudySchema:
    """The schema in `path`; `SchemaError` if it is not one."""
    from fl.errors import SchemaError
    from fl.schema import StudySchema

    try:
        return StudySchema.from_json_dict(json.loads(path.read_text(encoding="utf-8")))
    except json.JSONDecodeError as exc:
        raise SchemaError(f"{path}: not JSON: {exc}") from exc


@dataclass(frozen=True, slots=True)
class SchemaRequest:
    """What the user asked for: a schema file, or a sample plus explicit options."""

    schema_file: Path | None
    sample: Path | None
    task: TaskChoice | None
    label: str | None
    classes: str | None = None
    categorical: str | None = None
    k: int | None = None
    missing: MissingChoice = MissingChoice.REFUSE
    unknown_levels: UnknownChoice = UnknownChoice.REFUSE
    standardize: bool = True

    @property
    def given(self) -> bool:
        return self.schema_file is not None or self.task is not None

    def build(self) -> StudySchema:
        """The schema; `SchemaError` when the options are incomplete or do not fit the sample."""
        from fl.errors import SchemaError
        from fl.schema import Preprocessing, schema_from_sample

        if self.schema_file is not None:
            if self.task is not None or self.label is not None:
                raise SchemaError("give either --schema or --task/--label, not both")
            return read_schema_file(self.schema_file)
        if self.task is None or self.sample is None:
            raise SchemaError("a schema needs --schema FILE, or a sample file and --task")
        if self.task != TaskChoice.CLUSTERING and self.label is None:
            raise SchemaError(f"--task {self.task} needs --label (the label column)")
        return schema_from_sample(
            self.sample,
            task=self.task.value,
            label=self.label,
            classes=_names(self.classes) or None,
            k=self.k,
            categorical=_names(self.categorical),
            missing=self.missing.value,
            unknown_levels=self.unknown_levels.value,
            preprocessing=Preprocessing(standardize=self.standardize),
        )
