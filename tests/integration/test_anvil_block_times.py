"""`Chain.block_timestamps` (the audit view's block timestamps) read in JSON-RPC batches from a
real anvil: the same as web3's `get_block` one at a time, a block that does not exist is
`BlockNotFoundError`, a stopped node is `ChainUnavailableError`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chain import connection as module
from chain.connection import Chain, connect
from chain.devnet import start_anvil, stop_service
from chain.errors import BlockNotFoundError, ChainUnavailableError

pytestmark = pytest.mark.integration


def block_times(chain: Chain, blocks: list[int]) -> dict[int, int]:
    return chain.block_timestamps(blocks)


@pytest.fixture(scope="module")
def own_anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An anvil of this module's own: the test moves its clock."""
    service = start_anvil(tmp_path_factory.mktemp("anvil-block-times"))
    try:
        yield service.url
    finally:
        stop_service(service)  # by pid


def test_batched_timestamps_are_web3s_block_by_block(
    own_anvil: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    chain = connect(own_anvil)
    for _ in range(5):
        chain.advance_time(7)  # a block each, 7 s apart
    head = chain.block_number()
    blocks = [head, head - 1, head - 4, head - 2, head - 2, head - 3]
    expected = {b: chain.block_timestamp(b) for b in blocks}
    assert len(set(expected.values())) == 5
    assert block_times(chain, blocks) == expected
    monkeypatch.setattr(module, "_BATCH", 2)  # three batches
    assert block_times(chain, blocks) == expected
    assert block_times(chain, []) == {}


def test_a_block_the_node_does_not_have_is_block_not_found(own_anvil: str) -> None:
    chain = connect(own_anvil)
    head = chain.block_number()
    with pytest.raises(BlockNotFoundError, match=f"block {head + 1000}"):
        block_times(chain, [head, head + 1000])


def test_a_stopped_node_is_chain_unavailable(tmp_path: Path) -> None:
    service = start_anvil(tmp_path)
    try:
        chain = connect(service.url)
        assert block_times(chain, [0]) == {0: chain.block_timestamp(0)}
    finally:
        stop_service(service)  # by pid
    with pytest.raises(ChainUnavailableError):
        block_times(chain, [0])
