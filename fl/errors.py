"""The `fl` package's exceptions: one root, builtin-compatible subclasses that carry fields."""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "AggregationError",
    "DataError",
    "EmptyDataError",
    "FlError",
    "MalformedAddressError",
    "MissingColumnError",
    "ModelSpecError",
    "ModelStateError",
    "NoTrainingDataError",
    "NonNumericValueError",
    "SchemaError",
    "SchemaMismatchError",
    "SplitError",
    "TrainingConfigError",
    "UnknownPluginError",
    "UnknownStrategyError",
]


class FlError(Exception):
    """Root of every error raised by `fl`."""


class DataError(FlError, ValueError):
    """A dataset file or an in-memory dataset is unusable.

    `path` is the file (when one was read), `line` the 1-based line number in that file (the
    header is line 1) and `column` the offending column, each `None` when it does not apply.
    """

    def __init__(
        self,
        message: str,
        *,
        path: Path | None = None,
        line: int | None = None,
        column: str | None = None,
    ) -> None:
        where = []
        if path is not None:
            where.append(str(path))
        if line is not None:
            where.append(f"line {line}")
        if column is not None:
            where.append(f"column {column!r}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)
        self.path = path
        self.line = line
        self.column = column


class EmptyDataError(DataError):
    """The file has no header, or a header and no data rows."""


class MissingColumnError(DataError):
    """A required column (`patient`, `record_id`, `label`) is absent from the header."""


class MalformedAddressError(DataError):
    """A `patient` cell is not a 20-byte hex Ethereum address."""


class NonNumericValueError(DataError):
    """A feature or label cell is empty, not a number, or not finite."""


class SchemaError(FlError, ValueError):
    """A study schema (or its JSON form, or the options it is built from) is invalid."""


class SchemaMismatchError(DataError):
    """A data file does not match the study schema.

    `problem` names what is wrong, one of `fl.schema.PROBLEMS` ("missing column", "unknown
    class", "non-numeric value", ...); `path`, `line` and `column` say where (see `DataError`).
    """

    def __init__(
        self,
        problem: str,
        detail: str,
        *,
        path: Path | None = None,
        line: int | None = None,
        column: str | None = None,
    ) -> None:
        super().__init__(f"{problem}: {detail}", path=path, line=line, column=column)
        self.problem = problem


class SplitError(FlError, ValueError):
    """`split_dataset` was asked for something the dataset cannot give (e.g. too many hospitals)."""


class ModelSpecError(FlError, ValueError):
    """A model spec (or its JSON form) is invalid or unsupported."""


class ModelStateError(FlError, ValueError):
    """A state dict does not fit the model it is loaded into (missing/extra keys, bad shapes)."""


class TrainingConfigError(FlError, ValueError):
    """A local-training configuration value is out of range."""


class NoTrainingDataError(FlError, ValueError):
    """Local training was asked to run on a dataset with no rows (e.g. every patient revoked)."""


class AggregationError(FlError, ValueError):
    """Updates cannot be aggregated: empty, mismatched, non-finite, or with unusable weights.

    `index` is the position of the offending update in the input (when one is to blame) and `key`
    the offending tensor name.
    """

    def __init__(self, message: str, *, index: int | None = None, key: str | None = None) -> None:
        super().__init__(message)
        self.index = index
        self.key = key


class UnknownStrategyError(FlError, ValueError):
    """No aggregation strategy is registered under `name`."""

    def __init__(self, name: str, known: tuple[str, ...]) -> None:
        super().__init__(f"unknown aggregation strategy {name!r}; known: {', '.join(known)}")
        self.name = name
        self.known = known


class UnknownPluginError(FlError, ValueError):
    """A study plan names a codec or learner this code does not provide."""

    def __init__(self, kind: str, name: str, known: tuple[str, ...]) -> None:
        super().__init__(f"unknown {kind} {name!r}; known: {', '.join(known)}")
        self.kind = kind
        self.name = name
        self.known = known
