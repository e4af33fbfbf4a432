"""The README's HTTP reference, the OpenAPI document and the app's behaviour agree.

The endpoint list and the status table are parsed from README.md; the OpenAPI document is the
app's own; probes send real requests through the TestClient and check the answer is declared."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from api.problems import PROBLEM_MEDIA_TYPE, PROBLEM_SLUGS, PROBLEM_TYPE_PREFIX
from tests.unit.api.conftest import ApiWorld

README = Path(__file__).parents[3] / "README.md"
_UNDECLARED = {405, 500}
"""Answered by the framework for any route (wrong method, a bug), so no operation lists them."""


def _http_section() -> str:
    text = README.read_text()
    start = text.index("## HTTP API")
    return text[start : text.index("\n## ", start + 1)]


def _readme_endpoints() -> set[tuple[str, str]]:
    return {
        (m.group(1).lower(), m.group(2))
        for m in re.finditer(r"^(GET|POST|PUT|DELETE|PATCH)\s+(/\S+)", _http_section(), re.M)
    }


def _readme_statuses() -> dict[int, set[str]]:
    rows: dict[int, set[str]] = {}
    for line in _http_section().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not re.match(r"^\d{3}", cells[0]):
            continue
        statuses = [int(s) for s in re.findall(r"\b(\d{3})\b", cells[0])]
        slugs = set(re.findall(r"`([a-z-]+)`", cells[1]))
        for status in statuses:
            rows.setdefault(status, set()).update(
                s for s in slugs if status in PROBLEM_SLUGS and s in PROBLEM_SLUGS[status]
            )
            unknown = {s for s in slugs if not any(s in v for v in PROBLEM_SLUGS.values())}
            assert not unknown, f"README names problem types the code never answers: {unknown}"
    return rows


def _operations(api: ApiWorld) -> dict[tuple[str, str], dict[str, Any]]:
    schema = api.client.get("/openapi.json").json()
    return {
        (method, path): operation
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
    }


def test_readme_lists_exactly_the_apps_endpoints(api: ApiWorld) -> None:
    assert _readme_endpoints() == set(_operations(api))


def test_readme_status_table_names_every_problem_type_the_code_answers() -> None:
    readme = _readme_statuses()

    problems = {status: readme.get(status, set()) for status in PROBLEM_SLUGS}
    assert problems == {status: set(slugs) for status, slugs in PROBLEM_SLUGS.items()}


def test_openapi_declares_the_statuses_of_the_readme_and_no_other(api: ApiWorld) -> None:
    operations = _operations(api)
    declared = {int(s) for op in operations.values() for s in op["responses"]}

    assert declared == set(_readme_statuses()) - _UNDECLARED
    for (method, path), operation in operations.items():
        responses = operation["responses"]
        assert "414" in responses, (method, path)
        assert ("413" in responses) == ("requestBody" in operation), (method, path)
        assert ("429" in responses) == (method == "post"), (method, path)
        for status, response in responses.items():
            if int(status) >= 400 and path != "/v1/health":  # health answers its own body
                assert list(response.get("content", {})) == [PROBLEM_MEDIA_TYPE], (path, status)


def test_integer_bounds_in_the_schema_are_exact(api: ApiWorld) -> None:
    schema = api.client.get("/openapi.json").json()
    nonce = schema["components"]["schemas"]["RevocationRequest"]["properties"]["nonce"]
    deadline = schema["components"]["schemas"]["RevocationRequest"]["properties"]["deadline"]
    round_ = next(
        p
        for p in schema["paths"]["/v1/studies/{study}/rounds/{round}"]["get"]["parameters"]
        if p["name"] == "round"
    )

    bounds = [b["maximum"] for b in nonce["anyOf"] if b.get("type") == "integer"]
    assert bounds == [2**256 - 1]
    assert isinstance(bounds[0], int)
    assert deadline["maximum"] == 2**64 - 1
    assert isinstance(deadline["maximum"], int)
    assert round_["schema"]["maximum"] == 2**64 - 1


def _probe(api: ApiWorld, path: str) -> str:
    return (
        path.replace("{study}", api.study_hex)
        .replace("{patient}", api.world.patient(0))
        .replace("{round}", "0")
    )


@pytest.mark.parametrize(
    ("param", "bad"), [("{patient}", "0x1234"), ("{round}", "-1"), ("{study}", "")]
)
def test_a_malformed_path_parameter_is_a_declared_400_invalid_identifier(
    api: ApiWorld, param: str, bad: str
) -> None:
    probed = 0
    for (method, path), operation in _operations(api).items():
        if param not in path or (param == "{study}" and path.endswith("{study}")):
            continue
        url = _probe(api, path.replace(param, bad))
        response = api.client.request(method, url, json={})
        if response.status_code == 404 and bad == "":
            continue  # an empty segment routes nowhere
        probed += 1
        assert response.status_code == 400, (method, url, response.text)
        assert response.json()["type"] == PROBLEM_TYPE_PREFIX + "invalid-identifier"
        assert "400" in operation["responses"], (method, path)
    assert probed or bad == ""


def test_a_too_long_url_is_a_declared_414_on_every_operation(api: ApiWorld) -> None:
    for (method, path), operation in _operations(api).items():
        response = api.client.request(method, _probe(api, path) + "?q=" + "x" * 3000)

        assert response.status_code == 414, (method, path)
        assert response.json()["type"] == PROBLEM_TYPE_PREFIX + "uri-too-long"
        assert "414" in operation["responses"]


def test_a_too_large_body_is_a_declared_413(api: ApiWorld) -> None:
    for (method, path), operation in _operations(api).items():
        if "requestBody" not in operation:
            continue
        response = api.client.request(method, _probe(api, path), json={"pad": "x" * 5000})

        assert response.status_code == 413, (method, path)
        assert "413" in operation["responses"]
