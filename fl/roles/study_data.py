"""A hospital's file read the way its study says: through the plan's schema when it has one.

`load_hospital_data` (rows keyed by patient) and `load_record_data` (rows keyed by record id, a
test set) check the file against the plan's `StudySchema` (`fl.schema.read_table`: a mismatch is
a `SchemaMismatchError` naming file, line, column and problem, and nothing is returned) and
encode it with the plan's federated statistics (`fl.preprocess.encode`). The validated rows are
kept with the dataset (`table`): when the plan has a statistics round (`StudyPlan
.statistics_round`) the statistics come from round 0 and the learner (`fl.learners.statistics`)
sums and encodes those rows; until then `features` are NaN, so nothing can train on rows encoded
with anything but the study's statistics (no hospital standardizes on its own rows). A plan
without a schema reads `fl.data`'s numeric `label` files with the model's task, as before.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from consent.ids import Address, InvalidIdentifierError, parse_address
from fl.data import (
    PATIENT_COLUMN,
    RECORD_COLUMN,
    HospitalDataset,
    RecordDataset,
    load_hospital_csv,
    load_record_csv,
)
from fl.errors import MalformedAddressError
from fl.preprocess import encode
from fl.roles.plan import StudyPlan
from fl.schema import SchemaTable, read_table

__all__ = ["load_hospital_data", "load_record_data"]


def _encoded(table: SchemaTable, plan: StudyPlan) -> tuple[torch.Tensor, torch.Tensor]:
    if plan.statistics_round:  # encoded by the learner with round 0's statistics
        assert plan.schema is not None  # statistics_round says so
        width = len(plan.schema.feature_names())
        labels = table.labels if len(table.labels) else np.zeros(len(table))
        nan = torch.full((len(table), width), math.nan, dtype=torch.float32)
        return nan, torch.from_numpy(labels.astype(np.float32))
    encoded = encode(table, plan.stats)
    return torch.from_numpy(encoded.features), torch.from_numpy(encoded.labels)


def load_hospital_data(path: Path | str, plan: StudyPlan) -> HospitalDataset:
    """The hospital's training rows (`patient` column) as `plan` reads them."""
    if plan.schema is None:
        return load_hospital_csv(path, task=plan.model.task)
    table = read_table(path, plan.schema, id_column=PATIENT_COLUMN)
    patients: list[Address] = []
    for value, line in zip(table.ids, table.lines, strict=True):
        try:
            patients.append(parse_address(value))
        except InvalidIdentifierError as exc:
            raise MalformedAddressError(
                f"not an Ethereum address: {value!r}",
                path=Path(path),
                line=line,
                column=PATIENT_COLUMN,
            ) from exc
    features, labels = _encoded(table, plan)
    return HospitalDataset(
        patients=tuple(patients),
        features=features,
        labels=labels,
        task=plan.model.task,
        feature_names=plan.schema.feature_names(),
        table=table,
    )


def load_record_data(path: Path | str, plan: StudyPlan) -> RecordDataset:
    """Rows keyed by `record_id` (e.g. the aggregator's held-out test set) as `plan` reads them."""
    if plan.schema is None:
        return load_record_csv(path, task=plan.model.task)
    table = read_table(path, plan.schema, id_column=RECORD_COLUMN)
    features, labels = _encoded(table, plan)
    return RecordDataset(
        record_ids=table.ids,
        features=features,
        labels=labels,
        task=plan.model.task,
        feature_names=plan.schema.feature_names(),
        table=table,
    )
