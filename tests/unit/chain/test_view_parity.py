"""The lean view path (`chain.abi_codec` + one `eth_call`) answers exactly as web3's did.

Every view the facades call here runs twice, through the lean path and through web3's
`ContractFunction.call` (the path it replaced), and both answers must be equal in value AND in
Python type, all the way down (tuples stay tuples, addresses checksummed strings, bytes bytes).
Reverts must become the same exception with the same arguments.
"""

from __future__ import annotations

from typing import Any

import pytest
from web3 import HTTPProvider, Web3
from web3.exceptions import ContractLogicError

from chain import connection
from chain._facade import ContractFacade, revert_decoder
from chain.abi_codec import codec
from chain.compile import load_artifact
from chain.connection import Chain
from chain.consent_registry import SignedConsent
from chain.errors import (
    ChainError,
    ChainRequestError,
    ChainUnavailableError,
    TransactionRevertedError,
    UnknownStudyError,
)
from chain.revert_decoder import raw_revert_data
from chain.transactions import ZERO_ADDRESS, call_view
from consent.ids import Bytes32, study_id
from consent.purposes import HMB, StudyPurpose
from consent.records import RoundResult, UpdateSubmission
from tests.fixtures.ledger import DEADLINE, DP_TERMS, LedgerWorld, sender_of


def _same(lean: Any, web3: Any) -> bool:
    """Equal values of the same types, recursively."""
    if type(lean) is not type(web3):
        return False
    if isinstance(lean, (list, tuple)):
        return len(lean) == len(web3) and all(_same(a, b) for a, b in zip(lean, web3, strict=True))
    return bool(lean == web3)


def _web3_call(facade: ContractFacade, name: str, args: tuple[Any, ...], block: int | None) -> Any:
    """The replaced path: web3's contract machinery, reverts decoded the same way."""
    caller = ZERO_ADDRESS if facade.sender is None else facade.sender.address
    fn = facade._contract.functions[name](*args)
    try:
        return fn.call({"from": caller}, block_identifier="latest" if block is None else block)
    except connection.tester_failures(ContractLogicError) as exc:
        data = raw_revert_data(exc)
        assert data is not None
        return revert_decoder().decode(data)


@pytest.fixture
def compared(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """Every facade view made while the fixture is active runs both ways and is compared."""
    names: set[str] = set()
    lean_call = ContractFacade._call

    def both(self: ContractFacade, name: str, *args: Any, block: int | None = None) -> Any:
        try:
            lean: Any = lean_call(self, name, *args, block=block)
        except ChainError as exc:
            lean = exc
        web3 = _web3_call(self, name, args, block)
        if isinstance(lean, ChainError):
            assert type(lean) is type(web3), (name, lean, web3)
            assert str(lean) == str(web3), (name, lean, web3)
            raise lean
        assert _same(lean, web3), (name, lean, web3)
        names.add(f"{self.CONTRACT}.{name}")
        return lean

    monkeypatch.setattr(ContractFacade, "_call", both)
    return names


def _round(world: LedgerWorld) -> None:
    world.grant(5, 0)
    rounds = world.aggregator.rounds
    rounds.open_round(world.study, 0, Bytes32(b"\x01" * 32), "bafkreibase")
    submission = UpdateSubmission(
        update_hash=Bytes32(b"\x02" * 32),
        update_cid="bafkreiupdate",
        num_samples=10,
        num_patients=1,
        data_root=Bytes32(b"\x03" * 32),
        consent_block=world.chain.block_number(),
    )
    world.hospitals[0].rounds.submit_update(world.study, 0, submission)
    result = RoundResult(
        model_hash=Bytes32(b"\x04" * 32),
        model_cid="bafkreimodel",
        metrics_cid="bafkreimetrics",
        considered_updates=1,
    )
    rounds.finalize_round(world.study, 0, result)


def test_round_study_and_consent_views_answer_as_web3_did(
    eth_tester_ledger: LedgerWorld, compared: set[str]
) -> None:
    world = eth_tester_ledger
    _round(world)
    hospital = sender_of(world.hospitals[0])
    patient = world.patient(5)
    rounds, studies, consents = (
        world.outsider.rounds,
        world.outsider.studies,
        world.coordinator.consents,
    )

    assert rounds.round_count(world.study) == 1
    assert rounds.get_round(world.study, 0).model_cid == "bafkreimodel"
    assert len(rounds.get_round_record(world.study, 0).updates) == 1
    assert rounds.round_view(world.study, 0)[0] == 1
    assert rounds.latest_round(world.study)[0] == 1
    assert rounds.get_updates(world.study, 0)[0].hospital == hospital
    assert rounds.has_submitted(world.study, 0, hospital)
    assert studies.get_study(world.study).min_updates == 1
    assert studies.hospitals(world.study) == tuple(sender_of(h) for h in world.hospitals)
    assert studies.is_member(world.study, hospital)
    assert studies.study_exists(world.study)
    assert studies.study_purpose(world.study) is None
    assert studies.dataset_inventory() == world.manifest.dataset_inventory
    assert studies.has_role("DEFAULT_ADMIN_ROLE", sender_of(world.coordinator))
    assert consents.record(world.study, patient).hospital == hospital
    assert consents.is_consented(world.study, patient)
    assert consents.grant_nonce(world.study, patient) == 1
    assert consents.revocation_nonce(world.study, patient) == 0
    assert consents.active_consent_count(world.study, hospital) == 1
    assert consents.last_revocation_block(world.study, hospital) == 0
    assert consents.domain_separator() == consents.domain_separator()
    assert {
        "RoundLedger.getRoundWithUpdates",
        "RoundLedger.roundCount",
        "RoundLedger.hasSubmitted",
        "StudyRegistry.getStudy",
        "StudyRegistry.hospitals",
        "StudyRegistry.studyPurpose",
        "ConsentRegistry.consentRecord",
        "ConsentRegistry.isConsented",
        "ConsentRegistry.DOMAIN_SEPARATOR",
    } <= compared


def test_budget_and_batch_views_answer_as_web3_did(
    eth_tester_ledger: LedgerWorld, compared: set[str]
) -> None:
    world = eth_tester_ledger
    budget = world.coordinator.budget
    assert budget is not None
    budget.configure(world.study, DP_TERMS)
    hospital = world.hospitals[0]
    signed = [
        SignedConsent(world.patient(p), 0, world.consent_sig(p, hospital), DEADLINE)
        for p in range(3)
    ]
    (batch,) = hospital.consents.grant_first_batch(world.study, signed)
    consents = world.coordinator.consents
    me = sender_of(hospital)

    assert budget.is_dp_study(world.study)
    record = budget.record(world.study)
    assert record is not None
    assert record.terms.steps_per_round == 16
    assert budget.spent(world.study, me) == ()  # nothing charged yet
    assert budget.charged(world.study, 0, me) is None
    assert consents.batch_count(world.study) == 1
    assert consents.batch_root(world.study, 1) == batch.root
    member = consents.membership(world.study, world.patient(1))
    assert member is not None
    assert consents.is_consented_in_batch(world.study, world.patient(1), member)
    assert {
        "PrivacyBudget.getTerms",
        "PrivacyBudget.spent",
        "PrivacyBudget.charged",
        "ConsentRegistry.consentBatchCount",
        "ConsentRegistry.consentBatch",
        "ConsentRegistry.isConsentedInBatch",
    } <= compared


def test_purpose_views_answer_as_web3_did(
    eth_tester_ledger: LedgerWorld, compared: set[str]
) -> None:
    world = eth_tester_ledger
    purpose = StudyPurpose(HMB)
    study = world.scoped_study("parity-purpose", purpose)
    scope = world.outsider.studies.study_purpose(study)

    assert scope == purpose
    assert world.outsider.consents.purposes_cover(scope.mask, scope.mask) is True
    assert {"StudyRegistry.studyPurpose", "ConsentRegistry.purposesCover"} <= compared


def test_a_custom_error_revert_is_decoded_the_same_way(
    eth_tester_ledger: LedgerWorld, compared: set[str]
) -> None:
    unknown = study_id("no such study")
    with pytest.raises(UnknownStudyError) as raised:
        eth_tester_ledger.outsider.studies.get_study(unknown)
    assert raised.value.arguments == {"study_id": bytes(unknown)}


def test_an_unknown_revert_is_a_transaction_reverted_error_both_ways(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    rounds = world.outsider.rounds  # getStudy sent to the RoundLedger: no such function there
    function = codec("StudyRegistry", "getStudy")
    caller = sender_of(world.outsider)
    with pytest.raises(TransactionRevertedError) as lean:
        call_view(
            world.chain,
            rounds._contract.address,
            function,
            [bytes(world.study)],
            revert_decoder(),
            caller=caller,
        )
    other = world.chain.w3.eth.contract(
        address=rounds._contract.address, abi=[dict(_abi(function))]
    )
    web3 = None
    try:
        other.functions.getStudy(bytes(world.study)).call({"from": caller})
    except connection.tester_failures(ContractLogicError) as exc:
        data = raw_revert_data(exc)
        web3 = revert_decoder().decode(b"" if data is None else data)
    assert type(web3) is TransactionRevertedError
    assert lean.value.data == web3.data == b""


def _abi(function: Any) -> dict[str, Any]:
    return next(e for e in load_artifact("StudyRegistry").abi if e.get("name") == function.name)


def test_a_node_that_is_down_is_chain_unavailable_for_a_view() -> None:
    w3 = Web3(HTTPProvider("http://127.0.0.1:9", request_kwargs={"timeout": 2}))
    connection._middleware(w3)
    chain = Chain(w3=w3, rpc="http://127.0.0.1:9", chain_id=1)
    with pytest.raises(ChainUnavailableError):
        call_view(
            chain,
            "0x" + "11" * 20,
            codec("StudyRegistry", "studyExists"),
            [bytes(32)],
            revert_decoder(),
        )


def test_an_answer_that_does_not_decode_is_a_chain_request_error(
    eth_tester_ledger: LedgerWorld,
) -> None:
    with pytest.raises(ChainRequestError, match="getStudy"):
        call_view(  # an address without code answers 0x
            eth_tester_ledger.chain,
            "0x" + "11" * 20,
            codec("StudyRegistry", "getStudy"),
            [bytes(32)],
            revert_decoder(),
            caller=sender_of(eth_tester_ledger.outsider),
        )
