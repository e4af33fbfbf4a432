"""Training rounds as recorded on chain."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from api.deps import ServicesDep, StudyParam
from api.problems import UnknownRoundError, problem_responses
from api.schemas import UINT64_MAX, RoundDetailOut, RoundListOut, RoundOut, UpdateOut, hex32
from chain.deploy import Ledger
from chain.errors import UnknownStudyError
from chain.round_metrics import read_judgement
from consent.ids import StudyId

__all__ = ["router"]

router = APIRouter(prefix="/v1/studies/{study}/rounds", tags=["rounds"])


def _round_count(ledger: Ledger, study: StudyId) -> int:
    if not ledger.studies.study_exists(study):
        raise UnknownStudyError({"study_id": bytes(study)})
    return ledger.rounds.round_count(study)


@router.get(
    "",
    response_model=RoundListOut,
    responses=problem_responses(400, 404, 422, 502, 503),
    summary="A study's rounds",
)
def list_rounds(
    study: StudyParam,
    services: ServicesDep,
    offset: Annotated[int, Query(ge=0, le=UINT64_MAX)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> RoundListOut:
    """Rounds `offset` .. `offset + limit - 1`, oldest first, with model hashes and CIDs."""
    ledger = services.ledger
    count = _round_count(ledger, study)
    numbers = range(offset, min(count, offset + limit)) if offset < count else range(0)
    rounds = [
        RoundOut.model_validate(RoundOut.fields_of(ledger.rounds.get_round(study, r)))
        for r in numbers
    ]
    return RoundListOut(study=hex32(study), count=count, offset=offset, rounds=rounds)


@router.get(
    "/{round}",
    response_model=RoundDetailOut,
    responses=problem_responses(400, 404, 422, 502, 503),
    summary="One round with its updates",
)
def get_round(
    study: StudyParam,
    round: Annotated[int, Path(ge=0, le=UINT64_MAX, description="round number")],
    services: ServicesDep,
) -> RoundDetailOut:
    """The round's base and final model (hash, CID), metrics CID, every update with its hash,
    CID, sample count, data root and consent block, and (with a store) the strategy's decision
    on each aggregated update and the contribution values from the round metrics."""
    ledger = services.ledger
    count = _round_count(ledger, study)
    if round >= count:
        raise UnknownRoundError(round, count)
    record = ledger.rounds.get_round(study, round)
    updates = ledger.rounds.get_updates(study, round)
    judged = None if services.store is None else read_judgement(services.store, record.record())
    return RoundDetailOut.model_validate(
        {
            **RoundOut.fields_of(record),
            "updates": [UpdateOut.of(u) for u in updates],
            "decisions": None if judged is None else list(judged.decisions),
            "contributions": None if judged is None else judged.contributions,
        }
    )
