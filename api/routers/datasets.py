"""The on-chain dataset inventory: registered dataset cards, their scores, the studies using
them, and a study's admission thresholds."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.dataset_listing import inventory_listing, study_datasets
from api.deps import ServicesDep, StudyParam
from api.problems import problem_responses
from api.schemas import hex32
from chain.errors import UnknownStudyError

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["datasets"])


class DatasetOut(BaseModel):
    """A registered dataset card and its on-chain scores (risks: upper 95% bounds)."""

    card_sha256: str
    hospital: str
    card_cid: str
    registered_block: int
    synthetic: bool
    rows: int
    k: int
    l: int  # noqa: E741 - the name of the l-diversity score
    t_closeness: float
    risk_upper: dict[str, float]
    studies: list[str] = Field(description="studies the dataset is offered to")


class DatasetListOut(BaseModel):
    """Every registered dataset (empty for a deployment without an inventory)."""

    datasets: list[DatasetOut]


class StudyDatasetsOut(BaseModel):
    """A study's admission thresholds (null if none) and each member's offered dataset."""

    study: str
    thresholds: dict[str, Any] | None
    members: dict[str, DatasetOut | None]


@router.get(
    "/datasets",
    response_model=DatasetListOut,
    responses=problem_responses(502, 503),
    summary="The dataset inventory",
)
def list_datasets(services: ServicesDep) -> DatasetListOut:
    """Every registered dataset card with its scores and the studies it is offered to."""
    ledger = services.ledger
    if ledger.datasets is None:
        return DatasetListOut(datasets=[])
    listing = inventory_listing(ledger.datasets)
    return DatasetListOut.model_validate({"datasets": listing})


@router.get(
    "/studies/{study}/datasets",
    response_model=StudyDatasetsOut,
    responses=problem_responses(400, 404, 422, 502, 503),
    summary="A study's admission thresholds and its members' datasets",
)
def get_study_datasets(study: StudyParam, services: ServicesDep) -> StudyDatasetsOut:
    """The thresholds the study declared and the dataset card each member hospital offered."""
    ledger = services.ledger
    if not ledger.studies.study_exists(study):
        raise UnknownStudyError({"study_id": bytes(study)})
    members = ledger.studies.hospitals(study)
    if ledger.datasets is None:
        body: dict[str, Any] = {"thresholds": None, "members": dict.fromkeys(members)}
    else:
        body = study_datasets(ledger.datasets, study, members)
    return StudyDatasetsOut.model_validate({"study": hex32(study), **body})
