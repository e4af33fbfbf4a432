"""Dependencies of the routers, as `Annotated` aliases."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Final

from fastapi import Depends, Path, Request

from api.services import ServiceProvider, Services
from consent.ids import Address, StudyId, parse_address, study_id

__all__ = [
    "PatientParam",
    "PatientPath",
    "ServicesDep",
    "StudyParam",
    "StudyPath",
    "get_services",
    "services_of",
]

_ADDRESS_PATTERN: Final = r"^0x[0-9a-fA-F]{40}$"


@contextmanager
def services_of(request: Request) -> Iterator[Services]:
    """The app's services for one request, held for it (`Services.session`); raises
    `ChainUnavailableError` (503) while the chain cannot be reached. Blocking: call it from a
    worker thread (an async route that does its chain work in one executor hop)."""
    provider: ServiceProvider = request.app.state.provider
    with provider.get().session() as services:
        yield services


def get_services(request: Request) -> Iterator[Services]:
    """The app's services for this request (503 while the chain cannot be reached)."""
    with services_of(request) as services:
        yield services


StudyPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=128,
        description="0x-prefixed 32-byte study id, or the study's name",
    ),
]
"""The `{study}` path parameter as sent (`StudyParam` parses it; a hot route parses it itself)."""
PatientPath = Annotated[
    str, Path(pattern=_ADDRESS_PATTERN, description="the patient's address (0x + 40 hex)")
]
"""The `{patient}` path parameter as sent, pattern-checked (`PatientParam` parses it)."""


# The path parameters' dependencies are async (pure and instant): a sync dependency costs a
# worker-thread hop per request (session 8: ~8% of a relayed revocation's server CPU was hops).
async def _study(study: StudyPath) -> StudyId:
    return study_id(study)


async def _patient(patient: PatientPath) -> Address:
    return parse_address(patient)


ServicesDep = Annotated[Services, Depends(get_services)]
StudyParam = Annotated[StudyId, Depends(_study)]
PatientParam = Annotated[Address, Depends(_patient)]
