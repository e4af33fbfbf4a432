"""The lean transaction path against a real anvil (`chain.tx_wire`: wire-format sends, raw
receipt polling, local EIP-1559 signing, `chain.event_codec` log decoding) behaves as the web3
path did: the same receipts and events as web3 reads for the same transaction, custom errors
decoded on send and on replay, out of gas named, a nonce race retried once, the relayer's
batch outcome the same as web3's `process_receipt` gives, and a stopped node unavailable."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from eth_utils import keccak
from web3.exceptions import ContractLogicError
from web3.logs import DISCARD

from chain._facade import revert_decoder
from chain.connection import Chain, connect
from chain.consent_registry import SignedConsent, SignedRevocation
from chain.deploy import Ledger, attach, deploy
from chain.devnet import start_anvil, stop_service
from chain.errors import (
    ChainUnavailableError,
    ContractRevertError,
    TransactionRevertedError,
    UnknownStudyError,
)
from chain.revert_decoder import raw_revert_data
from chain.transactions import Sender
from consent.events import ConsentRevoked
from consent.ids import Bytes32, parse_address, study_id
from tests.fixtures.ledger import DEADLINE, PATIENT_COUNT, LedgerWorld

pytestmark = pytest.mark.integration


def _fund(chain: Chain, address: str) -> None:
    chain.w3.eth.send_transaction(
        {"from": chain.w3.eth.accounts[0], "to": address, "value": 10**18, "gas": 21_000}
    )


@pytest.fixture(scope="module")
def world(anvil: str) -> LedgerWorld:
    """The unit tests' `LedgerWorld`, built the same way on anvil."""
    chain = connect(anvil)
    accounts = chain.w3.eth.accounts
    coordinator = Sender.unlocked(chain, accounts[0])
    manifest = deploy(chain, coordinator)
    ledger = attach(chain, manifest, coordinator)
    study = study_id("anvil-transactions")
    ledger.studies.create_study(
        study,
        aggregator=parse_address(accounts[1]),
        aggregator_seal_key=Bytes32(b"\x42" * 32),
        min_updates=1,
        metadata_cid="bafkreimetadata",
    )
    hospitals = tuple(ledger.with_sender(Sender.unlocked(chain, accounts[i])) for i in (2, 3))
    for hospital in hospitals:
        ledger.studies.add_hospital(study, hospital.studies.sender.address)  # type: ignore[union-attr]
    patients = tuple(
        Account.from_key(keccak(text=f"consentfl anvil tx patient {i}"))
        for i in range(PATIENT_COUNT)
    )
    for patient in patients:
        _fund(chain, patient.address)
    return LedgerWorld(
        chain=chain,
        manifest=manifest,
        study=study,
        coordinator=ledger,
        aggregator=ledger.with_sender(Sender.unlocked(chain, accounts[1])),
        hospitals=hospitals,
        outsider=ledger.with_sender(Sender.unlocked(chain, accounts[4])),
        patients=patients,
    )


def _relayer(world: LedgerWorld, name: str) -> Ledger:
    account = Account.from_key(keccak(text=f"consentfl anvil tx relayer {name}"))
    _fund(world.chain, account.address)
    sender = Sender.from_key(world.chain, account.key, manage_nonces=True)
    return world.coordinator.with_sender(sender)


def _same_receipt(lean: Any, web3: Any) -> None:
    for field in ("status", "gasUsed", "blockNumber", "blockHash", "transactionHash"):
        assert lean[field] == web3[field], field
        assert type(lean[field]) is type(web3[field]), field
    assert lean["contractAddress"] == web3.get("contractAddress")
    assert len(lean["logs"]) == len(web3["logs"])
    for mine, theirs in zip(lean["logs"], web3["logs"], strict=True):
        for field in ("address", "topics", "data", "logIndex", "transactionIndex", "blockNumber"):
            assert mine[field] == theirs[field], field
            assert type(mine[field]) is type(theirs[field]), field


@pytest.mark.parametrize("signed", [True, False], ids=["signed", "unlocked"])
def test_a_receipt_and_its_events_are_what_web3_reads(world: LedgerWorld, signed: bool) -> None:
    patient = world.patients[0]
    hospital = world.hospitals[0]
    world.grant(0)
    if signed:  # the patient's own key, signed here
        ledger = world.as_sender(patient)
        call = ledger.consents._fn("revoke", bytes(world.study))
    else:  # the hospital's account, signed by anvil; a grant of patient 1
        ledger = hospital
        signature = world.consent_sig(1, hospital)
        terms = SignedConsent(world.patient(1), 0, signature, DEADLINE).terms
        call = ledger.consents._fn(
            "grantWithSig", bytes(world.study), world.patient(1), terms, DEADLINE, signature
        )
    assert ledger.consents.sender is not None
    assert ledger.consents.sender.signs_locally is signed
    receipt = ledger.consents.sender.transact(call, 300_000, revert_decoder())

    expected = world.chain.w3.eth.get_transaction_receipt(receipt["transactionHash"])
    _same_receipt(receipt, expected)
    events = ledger.consents.receipt_events(receipt)
    assert events == ledger.consents.receipt_events(expected)
    assert len(events) >= 1
    name = "ConsentRevoked" if signed else "ConsentGranted"
    (oracle,) = ledger.consents._contract.events[name]().process_receipt(expected, errors=DISCARD)
    # the facades that still decode with web3 (privacy budget, secure aggregation) take it too
    (light,) = ledger.consents._contract.events[name]().process_receipt(receipt, errors=DISCARD)
    assert dict(light["args"]) == dict(oracle["args"])
    assert light["transactionHash"] == oracle["transactionHash"]
    (event,) = [e for e in events if type(e).__name__ == name]
    assert event.patient == oracle["args"]["patient"]  # type: ignore[union-attr]
    block = world.chain.w3.eth.get_block(expected["blockHash"])
    assert event.block_timestamp == block["timestamp"]  # type: ignore[union-attr]


def _asking(chain: Chain) -> list[str]:
    """The methods `chain`'s provider is asked from now on (its `make_request` wrapped)."""
    asked: list[str] = []
    provider: Any = chain.w3.provider
    make_request = provider.make_request

    def counted(method: str, params: Any) -> Any:
        asked.append(method)
        return make_request(method, params)

    provider.make_request = counted
    return asked


def test_an_unlocked_transaction_comes_back_with_its_receipt(world: LedgerWorld) -> None:
    chain = connect(world.chain.rpc)  # a connection of its own: its provider is wrapped
    sender = Sender.unlocked(chain, chain.w3.eth.accounts[0])
    studies = attach(chain, world.manifest, sender).studies
    call = studies._fn("studyExists", bytes(world.study))
    asked = _asking(chain)
    receipt = sender.transact(call, 60_000, revert_decoder())
    assert receipt["status"] == 1
    assert "eth_sendTransactionSync" in asked  # automining anvil: the receipt with the send
    assert "eth_sendTransaction" not in asked
    assert "eth_getTransactionReceipt" not in asked
    assert "eth_getBlockByNumber" not in asked  # the node picks the fees: no base fee read
    _same_receipt(receipt, chain.w3.eth.get_transaction_receipt(receipt["transactionHash"]))


def test_on_an_interval_mining_anvil_an_unlocked_sender_polls(world: LedgerWorld) -> None:
    chain = connect(world.chain.rpc)
    sender = Sender.unlocked(chain, chain.w3.eth.accounts[0])
    studies = attach(chain, world.manifest, sender).studies
    call = studies._fn("studyExists", bytes(world.study))
    chain.raw_request("evm_setIntervalMining", [1])
    try:
        asked = _asking(chain)
        receipt = sender.transact(call, 60_000, revert_decoder())
    finally:
        chain.raw_request("evm_setAutomine", [True])
    assert receipt["status"] == 1
    assert "eth_sendTransactionSync" not in asked
    assert asked.count("eth_sendTransaction") == 1
    assert "eth_getTransactionReceipt" in asked


@pytest.mark.parametrize("signed", [True, False], ids=["signed", "unlocked"])
def test_a_revert_is_the_custom_error_web3_decodes(world: LedgerWorld, signed: bool) -> None:
    ledger = _relayer(world, "revert") if signed else world.coordinator
    unknown = study_id("no such study")
    with pytest.raises(ContractRevertError) as lean:
        ledger.studies.add_hospital(unknown, world.patient(2))
    with pytest.raises(ContractLogicError) as web3:
        ledger.studies._contract.functions.addHospital(bytes(unknown), world.patient(2)).call(
            {"from": ledger.studies.sender.address}  # type: ignore[union-attr]
        )
    data = raw_revert_data(web3.value)
    assert data is not None
    before = revert_decoder().decode(data)
    assert type(lean.value) is type(before)
    assert lean.value.arguments == before.arguments
    assert lean.value.tx_hash is not None  # mined with status 0, then replayed
    if not signed:
        assert type(lean.value) is UnknownStudyError


def test_out_of_gas_is_named(world: LedgerWorld) -> None:
    relayer = _relayer(world, "gas")
    call = relayer.studies._fn("addHospital", bytes(world.study), world.patient(3))
    assert relayer.studies.sender is not None
    with pytest.raises(TransactionRevertedError, match="out of gas"):
        relayer.studies.sender.transact(call, 25_000, revert_decoder())


def test_a_nonce_race_retries_once_with_the_fresh_count(world: LedgerWorld) -> None:
    key = keccak(text="consentfl anvil tx nonce race")
    _fund(world.chain, Account.from_key(key).address)
    first = Sender.from_key(world.chain, key, manage_nonces=True)
    second = Sender.from_key(world.chain, key, manage_nonces=True)
    call = world.coordinator.studies._fn("studyExists", bytes(world.study))
    receipts = [first.transact(call, 60_000, revert_decoder())]  # first counts n, n+1
    receipts.append(second.transact(call, 60_000, revert_decoder()))  # second takes n+1
    receipts.append(first.transact(call, 60_000, revert_decoder()))  # n+1 refused: n+2
    assert [r["status"] for r in receipts] == [1, 1, 1]
    nonces = [world.chain.w3.eth.get_transaction(r["transactionHash"])["nonce"] for r in receipts]
    assert nonces == [nonces[0], nonces[0] + 1, nonces[0] + 2]


def test_the_relayers_batch_outcome_decodes_as_web3_does(world: LedgerWorld) -> None:
    for patient in (3, 4, 5):
        world.grant(patient)
    revocations = [
        SignedRevocation(world.patient(p), DEADLINE, world.revocation_sig(p, deadline=DEADLINE))
        for p in (3, 4)
    ]
    expired = world.revocation_sig(5, deadline=1)
    revocations.append(SignedRevocation(world.patient(5), 1, expired))
    consents = _relayer(world, "batch").consents
    pending = consents.send_revoke_batch(world.study, revocations)
    provider: Any = consents.chain.w3.provider
    unwrapped = provider.make_request
    asked = _asking(consents.chain)
    try:
        outcome = consents.revoke_batch_outcome(pending)
    finally:
        provider.make_request = unwrapped  # the module's shared connection
    # anvil's receipt carries its block's timestamp: the events' time needs no block read
    assert "eth_getTransactionReceipt" in asked
    assert "eth_getBlockByHash" not in asked
    number = outcome.revoked[world.patient(3)].position.block_number
    block = world.chain.w3.eth.get_block(number)
    assert {e.block_timestamp for e in outcome.revoked.values()} == {block["timestamp"]}

    receipt = world.chain.w3.eth.get_transaction_receipt(pending.tx_hash)
    events = consents._contract.events
    revoked = events.ConsentRevoked().process_receipt(receipt, errors=DISCARD)
    skipped = events.RevocationSkipped().process_receipt(receipt, errors=DISCARD)
    assert set(outcome.revoked) == {e["args"]["patient"] for e in revoked}
    assert set(outcome.revoked) == {world.patient(3), world.patient(4)}
    assert set(outcome.skipped) == {e["args"]["patient"] for e in skipped} == {world.patient(5)}
    assert outcome.skipped[world.patient(5)].reason == "SignatureExpired"
    for oracle in revoked:
        event = outcome.revoked[oracle["args"]["patient"]]
        assert isinstance(event, ConsentRevoked)
        assert (event.position.block_number, event.position.log_index) == (
            oracle["blockNumber"],
            oracle["logIndex"],
        )
        assert event.tx_hash == oracle["transactionHash"].to_0x_hex()
        assert event.study == world.study
    statuses = world.coordinator.consents.status_batch(
        world.study, [world.patient(p) for p in (3, 4, 5)]
    )
    assert statuses == [False, False, True]


def test_a_stopped_anvil_is_chain_unavailable_for_sends_and_waits(tmp_path: Any) -> None:
    service = start_anvil(tmp_path)
    try:
        chain = connect(service.url)
        coordinator = Sender.unlocked(chain, chain.w3.eth.accounts[0])
        studies = attach(chain, deploy(chain, coordinator), coordinator).studies
        key = keccak(text="consentfl anvil tx down")
        _fund(chain, Account.from_key(key).address)
        signed = Sender.from_key(chain, key, manage_nonces=True)
        call = studies._fn("studyExists", bytes(study_id("x")))
        sent = signed.send(call, 60_000, revert_decoder())
        assert signed.wait(sent, call, 60_000, revert_decoder())["status"] == 1
    finally:
        stop_service(service)  # by pid

    for sender in (coordinator, signed, Sender.from_key(chain, key)):
        with pytest.raises(ChainUnavailableError):
            sender.send(call, 60_000, revert_decoder())
        with pytest.raises(ChainUnavailableError):  # unlocked: eth_sendTransactionSync
            sender.transact(call, 60_000, revert_decoder())
    with pytest.raises(ChainUnavailableError):
        signed.wait(sent, call, 60_000, revert_decoder())
