"""The lean view path against a real anvil: the same answers as web3's `ContractFunction.call`,
reverts decoded from anvil's JSON-RPC error (custom and unknown), unlocked transactions without
fee estimates, and a node that went away."""

from __future__ import annotations

from typing import Any

import pytest
from web3.exceptions import ContractLogicError

from chain._facade import revert_decoder
from chain.abi_codec import codec
from chain.connection import connect
from chain.deploy import Ledger, attach, deploy
from chain.dev_study import unlocked_study
from chain.devnet import start_anvil, stop_service
from chain.errors import ChainUnavailableError, TransactionRevertedError, UnknownStudyError
from chain.revert_decoder import raw_revert_data
from chain.transactions import Sender, call_view
from consent.ids import Bytes32, study_id

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ledger(anvil: str) -> Ledger:
    world = unlocked_study(
        connect(anvil),
        study_id("anvil-views"),
        seal_key=Bytes32(b"\x01" * 32),
        metadata_cid="bafkreimeta",
    )
    return world.coordinator


def _web3(ledger: Ledger, facade: Any, name: str, *args: Any) -> Any:
    caller = ledger.studies.sender.address  # type: ignore[union-attr]
    return facade._contract.functions[name](*args).call({"from": caller})


def test_views_answer_as_web3_does_on_anvil(ledger: Ledger) -> None:
    study = study_id("anvil-views")
    raw = ledger.studies._call("getStudy", bytes(study))
    members = ledger.studies._call("hospitals", bytes(study))

    assert raw == _web3(ledger, ledger.studies, "getStudy", bytes(study))
    assert type(raw) is tuple
    assert members == _web3(ledger, ledger.studies, "hospitals", bytes(study))
    assert type(members) is list
    assert ledger.rounds.round_count(study) == 0
    assert ledger.studies.get_study(study).min_updates == 1


def test_a_custom_error_from_anvil_decodes_like_before(ledger: Ledger) -> None:
    unknown = study_id("no such study")
    with pytest.raises(UnknownStudyError) as lean:
        ledger.studies.get_study(unknown)
    with pytest.raises(ContractLogicError) as web3:
        _web3(ledger, ledger.studies, "getStudy", bytes(unknown))
    data = raw_revert_data(web3.value)
    assert data is not None
    before = revert_decoder().decode(data)
    assert type(before) is UnknownStudyError
    assert lean.value.arguments == before.arguments == {"study_id": bytes(unknown)}


def test_an_unknown_revert_from_anvil_is_a_transaction_reverted_error(ledger: Ledger) -> None:
    with pytest.raises(TransactionRevertedError) as info:  # no getStudy on the RoundLedger
        call_view(
            ledger.chain,
            ledger.rounds.address,
            codec("StudyRegistry", "getStudy"),
            [bytes(32)],
            revert_decoder(),
        )
    assert info.value.data == b""


def test_a_stopped_anvil_is_chain_unavailable_for_a_view(tmp_path: Any) -> None:
    service = start_anvil(tmp_path)
    try:
        chain = connect(service.url)
        coordinator = Sender.unlocked(chain, chain.w3.eth.accounts[0])
        studies = attach(chain, deploy(chain, coordinator), coordinator).studies
        assert not studies.study_exists(study_id("x"))
    finally:
        stop_service(service)  # by pid

    with pytest.raises(ChainUnavailableError):
        studies.study_exists(study_id("x"))
