"""The study schema: what every hospital's file must look like, and what the study learns from it.

A schema names the feature columns with their types (numeric, or categorical with its levels and
what to do with a level the schema does not list), the policy for missing cells, the label column,
the task (binary or multiclass with the class list, regression, clustering with k) and the
preprocessing every hospital applies (standardization with federated statistics, one-hot of
categoricals). It travels inside the study plan, so it is on chain by the plan's CID.

JSON form (`SCHEMA_FORMAT`, keys sorted when canonical)::

    {"format": "consentfl.study-schema/1",
     "columns": [{"name": "age", "type": "numeric", "missing": "refuse"},
                 {"name": "site", "type": "categorical", "levels": ["a", "b"],
                  "missing": "refuse", "unknown_levels": "refuse"}],
     "label": "diagnosis",
     "task": {"kind": "multiclass", "classes": ["0", "1", "2"]},
     "preprocessing": {"standardize": true, "one_hot": true},
     "extensions": {}}

`extensions` is a map older readers keep and ignore.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, get_args

from fl.errors import SchemaError

__all__ = [
    "COLUMN_TYPES",
    "MISSING_POLICIES",
    "SCHEMA_FORMAT",
    "TASK_KINDS",
    "UNKNOWN_LEVEL_POLICIES",
    "Column",
    "ColumnType",
    "MissingPolicy",
    "Preprocessing",
    "StudySchema",
    "TaskKind",
    "TaskSpec",
    "UnknownLevelPolicy",
]

SCHEMA_FORMAT: Final = "consentfl.study-schema/1"

ColumnType = Literal["numeric", "categorical"]
MissingPolicy = Literal["refuse", "impute"]
"""`refuse`: an empty cell is an error; `impute`: the federated mean (numeric) or the most
frequent level across the study (categorical) fills it."""
UnknownLevelPolicy = Literal["refuse", "ignore"]
"""`refuse`: a level the schema does not list is an error; `ignore`: it encodes as all zeros."""
TaskKind = Literal["binary", "multiclass", "regression", "clustering"]

COLUMN_TYPES: tuple[ColumnType, ...] = get_args(ColumnType)
MISSING_POLICIES: tuple[MissingPolicy, ...] = get_args(MissingPolicy)
UNKNOWN_LEVEL_POLICIES: tuple[UnknownLevelPolicy, ...] = get_args(UnknownLevelPolicy)
TASK_KINDS: tuple[TaskKind, ...] = get_args(TaskKind)


def _distinct_names(values: Sequence[str], what: str) -> tuple[str, ...]:
    items = tuple(values)
    if not all(isinstance(v, str) and v.strip() == v and v for v in items):
        raise SchemaError(f"{what} must be non-empty strings without surrounding blanks: {items}")
    if len(set(items)) != len(items):
        raise SchemaError(f"{what} must be distinct: {items}")
    return items


@dataclass(frozen=True, slots=True, kw_only=True)
class Column:
    """One feature column."""

    name: str
    type: ColumnType = "numeric"
    levels: tuple[str, ...] = ()
    """The categorical levels, in one-hot order (empty for numeric columns)."""
    missing: MissingPolicy = "refuse"
    unknown_levels: UnknownLevelPolicy = "refuse"

    def __post_init__(self) -> None:
        _distinct_names((self.name,), "column names")
        if self.type not in COLUMN_TYPES:
            raise SchemaError(f"column {self.name!r}: type must be one of {COLUMN_TYPES}")
        if self.missing not in MISSING_POLICIES:
            raise SchemaError(f"column {self.name!r}: missing must be one of {MISSING_POLICIES}")
        if self.unknown_levels not in UNKNOWN_LEVEL_POLICIES:
            raise SchemaError(
                f"column {self.name!r}: unknown_levels must be one of {UNKNOWN_LEVEL_POLICIES}"
            )
        _distinct_names(self.levels, f"levels of column {self.name!r}")
        if self.type == "categorical" and not self.levels:
            raise SchemaError(f"categorical column {self.name!r} needs at least one level")
        if self.type == "numeric" and self.levels:
            raise SchemaError(f"numeric column {self.name!r} cannot have levels")

    def to_json_dict(self) -> dict[str, object]:
        body: dict[str, object] = {"name": self.name, "type": self.type, "missing": self.missing}
        if self.type == "categorical":
            body |= {"levels": list(self.levels), "unknown_levels": self.unknown_levels}
        return body

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> Column:
        return cls(
            name=data["name"],
            type=data.get("type", "numeric"),
            levels=tuple(data.get("levels", ())),
            missing=data.get("missing", "refuse"),
            unknown_levels=data.get("unknown_levels", "refuse"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskSpec:
    """What the study learns: the label's classes (binary, multiclass), a number, or k clusters."""

    kind: TaskKind
    classes: tuple[str, ...] = ()
    """Label values as written in the files, in class-index order (binary and multiclass)."""
    k: int | None = None
    """Number of clusters (clustering only)."""

    def __post_init__(self) -> None:
        if self.kind not in TASK_KINDS:
            raise SchemaError(f"task must be one of {TASK_KINDS}, got {self.kind!r}")
        _distinct_names(self.classes, "classes")
        if self.kind == "binary" and len(self.classes) != 2:
            raise SchemaError(f"a binary task needs exactly 2 classes, got {list(self.classes)}")
        if self.kind == "multiclass" and len(self.classes) < 3:
            raise SchemaError(
                f"a multiclass task needs at least 3 classes (2 is binary), got {len(self.classes)}"
            )
        if self.kind in ("regression", "clustering") and self.classes:
            raise SchemaError(f"a {self.kind} task has no classes")
        if self.kind == "clustering":
            if not (isinstance(self.k, int) and not isinstance(self.k, bool) and self.k >= 2):
                raise SchemaError(f"clustering needs an integer k >= 2, got {self.k!r}")
        elif self.k is not None:
            raise SchemaError(f"k applies to clustering only, not {self.kind}")

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def to_json_dict(self) -> dict[str, object]:
        body: dict[str, object] = {"kind": self.kind}
        if self.classes:
            body["classes"] = list(self.classes)
        if self.k is not None:
            body["k"] = self.k
        return body

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> TaskSpec:
        return cls(kind=data["kind"], classes=tuple(data.get("classes", ())), k=data.get("k"))


@dataclass(frozen=True, slots=True, kw_only=True)
class Preprocessing:
    """What every hospital does to its rows before training, with statistics of the whole study."""

    standardize: bool = True
    """Numeric columns become (x - mean) / std with the federated mean and variance."""
    one_hot: bool = True
    """Categorical columns become one 0/1 column per level (else the level's index)."""

    def __post_init__(self) -> None:
        if not isinstance(self.standardize, bool) or not isinstance(self.one_hot, bool):
            raise SchemaError("preprocessing flags must be booleans")

    def to_json_dict(self) -> dict[str, object]:
        return {"standardize": self.standardize, "one_hot": self.one_hot}


@dataclass(frozen=True, slots=True, kw_only=True)
class StudySchema:
    """The columns, label, task and preprocessing of a study's data."""

    columns: tuple[Column, ...]
    task: TaskSpec
    label: str | None = None
    """The label column; None exactly when the task is clustering."""
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    extensions: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.columns:
            raise SchemaError("a schema needs at least one feature column")
        names = _distinct_names([c.name for c in self.columns], "column names")
        if (self.label is None) != (self.task.kind == "clustering"):
            raise SchemaError("a label column is required, except for clustering (which has none)")
        if self.label is not None and self.label in names:
            raise SchemaError(f"the label {self.label!r} cannot also be a feature column")
        if not isinstance(self.extensions, Mapping):
            raise SchemaError("extensions must be a mapping")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise SchemaError(f"no column {name!r} in the schema")

    def feature_names(self) -> tuple[str, ...]:
        """Names of the encoded model inputs: one per numeric column, one per level if one-hot."""
        names: list[str] = []
        for column in self.columns:
            if column.type == "categorical" and self.preprocessing.one_hot:
                names += [f"{column.name}={level}" for level in column.levels]
            else:
                names.append(column.name)
        return tuple(names)

    def to_json_dict(self) -> dict[str, object]:
        """A JSON-ready dict; `from_json_dict` rebuilds an equal schema."""
        return {
            "format": SCHEMA_FORMAT,
            "columns": [c.to_json_dict() for c in self.columns],
            "label": self.label,
            "task": self.task.to_json_dict(),
            "preprocessing": self.preprocessing.to_json_dict(),
            "extensions": dict(self.extensions),
        }

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> StudySchema:
        """The schema a `to_json_dict` dict describes; `SchemaError` on anything malformed."""
        if not isinstance(data, Mapping) or data.get("format") != SCHEMA_FORMAT:
            raise SchemaError(f"not a {SCHEMA_FORMAT} document")
        try:
            prep = data.get("preprocessing", {})
            return cls(
                columns=tuple(Column.from_json_dict(c) for c in data["columns"]),
                task=TaskSpec.from_json_dict(data["task"]),
                label=data.get("label"),
                preprocessing=Preprocessing(
                    standardize=prep.get("standardize", True), one_hot=prep.get("one_hot", True)
                ),
                extensions=dict(data.get("extensions", {})),
            )
        except SchemaError:
            raise
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise SchemaError(f"malformed study schema: {exc!r}") from exc
