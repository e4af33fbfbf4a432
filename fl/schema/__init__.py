"""The study schema (`spec`), reading a file against it (`table`) and building one from a sample
(`sample`). Encoding with the study's federated statistics lives in `fl.preprocess`."""

from fl.schema.sample import schema_from_sample
from fl.schema.spec import (
    SCHEMA_FORMAT,
    Column,
    Preprocessing,
    StudySchema,
    TaskSpec,
)
from fl.schema.table import ID_COLUMNS, PROBLEMS, SchemaTable, read_table

__all__ = [
    "ID_COLUMNS",
    "PROBLEMS",
    "SCHEMA_FORMAT",
    "Column",
    "Preprocessing",
    "SchemaTable",
    "StudySchema",
    "TaskSpec",
    "read_table",
    "schema_from_sample",
]
