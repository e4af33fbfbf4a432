import pytest

from tests.unit.chain.store.payloads import SIZES, payload


@pytest.fixture(params=list(SIZES.values()), ids=list(SIZES))
def sized_payload(request: pytest.FixtureRequest) -> bytes:
    return payload(int(request.param), seed=int(request.param))
