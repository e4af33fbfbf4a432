"""Schemathesis against /openapi.json on the eth-tester chain: no server errors, responses conform.

One test drives every operation with hypothesis-generated cases (valid and invalid), counting
them, and asserts at least `MIN_CASES` ran, so a schema change that silently shrinks the run fails.
"""

from __future__ import annotations

from typing import Any, cast

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import (
    negative_data_rejection,
    positive_data_acceptance,
)

from tests.unit.api.conftest import ApiWorld

MIN_CASES = 500
CASES_PER_OPERATION = 110


def test_generated_requests_never_get_a_server_error_and_match_the_schema(api: ApiWorld) -> None:
    api.world.grant(0)
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.client.app)
    ran: dict[str, int] = {}
    for result in schema.get_all_operations():
        _fuzz(cast(Any, result).ok(), ran)
    print(f"schemathesis cases: {sum(ran.values())} {ran}")
    assert sum(ran.values()) >= MIN_CASES, ran


def _fuzz(operation: Any, ran: dict[str, int]) -> None:
    label = operation.label
    ran[label] = 0

    @given(case=operation.as_strategy())
    @settings(
        max_examples=CASES_PER_OPERATION,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        ran[label] += 1
        case.call_and_validate(excluded_checks=[positive_data_acceptance, negative_data_rejection])

    run()
