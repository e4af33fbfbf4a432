"""RoundLedger on eth-tester: sequential rounds, membership, freshness, events and errors."""

from __future__ import annotations

import pytest

import consent.errors
from chain.errors import NotStudyMemberError, UnknownStudyError
from chain.events import RoundFinalized, RoundOpened, UpdateSubmitted
from chain.round_ledger import RoundState
from chain.round_ledger_errors import (
    AggregatedUpdatesMismatchError,
    AlreadySubmittedError,
    ConsentBlockInFutureError,
    NotAggregatorError,
    NotEnoughUpdatesError,
    PreviousRoundNotFinalizedError,
    RoundNotOpenError,
    StaleConsentError,
    UnexpectedRoundError,
    ZeroHashError,
    ZeroSamplesError,
)
from consent.ids import Bytes32, study_id
from tests.fixtures.ledger import LedgerWorld, sender_of
from tests.fixtures.rounds import H1, H2, ROOT, open_first_round
from tests.fixtures.rounds import result as _result
from tests.fixtures.rounds import submit as _submit


def test_full_round_emits_events_and_records_history(eth_tester_ledger: LedgerWorld) -> None:
    world = eth_tester_ledger
    rounds = world.aggregator.rounds
    opened = open_first_round(world)
    submitted = _submit(world, world.hospitals[0])
    finalized = rounds.finalize_round(
        world.study, 0, _result(H2, "bafkreimodel", "bafkreimetrics", 1)
    )
    assert isinstance(opened, RoundOpened)
    assert (opened.round, opened.base_model_hash, opened.base_model_cid) == (0, H1, "bafkreibase")
    assert isinstance(submitted, UpdateSubmitted)
    assert submitted.hospital == sender_of(world.hospitals[0])
    assert (submitted.num_samples, submitted.data_root) == (10, ROOT)
    assert isinstance(finalized, RoundFinalized)
    assert (finalized.update_count, finalized.metrics_cid) == (1, "bafkreimetrics")
    record = rounds.get_round(world.study, 0)
    assert record.state is RoundState.FINALIZED
    assert (record.model_hash, record.model_cid) == (H2, "bafkreimodel")
    assert record.opened_block == opened.position.block_number
    assert record.finalized_block == finalized.position.block_number
    (update,) = rounds.get_updates(world.study, 0)
    assert update.consent_block == submitted.consent_block
    assert update.submitted_block == submitted.position.block_number
    assert rounds.round_count(world.study) == 1
    assert rounds.has_submitted(world.study, 0, sender_of(world.hospitals[0]))
    assert [type(e) for e in rounds.events(opened.position.block_number)] == [
        RoundOpened,
        UpdateSubmitted,
        RoundFinalized,
    ]


def test_open_round_out_of_order_raises_unexpected_round(eth_tester_ledger: LedgerWorld) -> None:
    world = eth_tester_ledger
    with pytest.raises(UnexpectedRoundError) as info:
        world.aggregator.rounds.open_round(world.study, 1, H1, "")
    assert (info.value.arguments["round"], info.value.arguments["expected"]) == (1, 0)


def test_open_next_round_before_finalizing_raises_previous_not_finalized(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    world.aggregator.rounds.open_round(world.study, 0, H1, "")
    with pytest.raises(PreviousRoundNotFinalizedError):
        world.aggregator.rounds.open_round(world.study, 1, H1, "")


def test_open_round_by_non_aggregator_raises_not_aggregator(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    with pytest.raises(NotAggregatorError):
        world.hospitals[0].rounds.open_round(world.study, 0, H1, "")


def test_open_round_in_unknown_study_raises_unknown_study(eth_tester_ledger: LedgerWorld) -> None:
    world = eth_tester_ledger
    with pytest.raises(UnknownStudyError):
        world.aggregator.rounds.open_round(study_id("nope"), 0, H1, "")


def test_open_round_with_zero_hash_raises_zero_hash(eth_tester_ledger: LedgerWorld) -> None:
    world = eth_tester_ledger
    with pytest.raises(ZeroHashError):
        world.aggregator.rounds.open_round(world.study, 0, Bytes32(bytes(32)), "")


def test_submit_by_non_member_raises_not_study_member(eth_tester_ledger: LedgerWorld) -> None:
    world = eth_tester_ledger
    world.aggregator.rounds.open_round(world.study, 0, H1, "")
    with pytest.raises(NotStudyMemberError):
        _submit(world, world.outsider)


def test_submit_twice_raises_already_submitted(eth_tester_ledger: LedgerWorld) -> None:
    world = eth_tester_ledger
    world.aggregator.rounds.open_round(world.study, 0, H1, "")
    _submit(world, world.hospitals[0])
    with pytest.raises(AlreadySubmittedError):
        _submit(world, world.hospitals[0])


def test_submit_to_unopened_or_finalized_round_raises_round_not_open(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    with pytest.raises(RoundNotOpenError):
        _submit(world, world.hospitals[0])
    world.aggregator.rounds.open_round(world.study, 0, H1, "")
    _submit(world, world.hospitals[0])
    world.aggregator.rounds.finalize_round(world.study, 0, _result(H2, "", "", 1))
    with pytest.raises(RoundNotOpenError):
        _submit(world, world.hospitals[1])


def test_submit_with_consent_block_before_a_revocation_raises_stale_consent(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    world.aggregator.rounds.open_round(world.study, 0, H1, "")
    view_block = world.chain.block_number()
    world.grant(0)
    revoked = world.as_sender(world.patients[0]).consents.revoke(world.study)
    with pytest.raises(StaleConsentError) as info:
        _submit(world, world.hospitals[0], consent_block=view_block)
    assert isinstance(info.value, consent.errors.StaleConsentError)
    assert info.value.consent_block == view_block
    assert info.value.last_revocation_block == revoked.position.block_number
    # a fresh view (at the revocation block or later) is accepted
    _submit(world, world.hospitals[0], consent_block=revoked.position.block_number)


def test_revocation_at_another_hospital_does_not_make_this_hospital_stale(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    world.aggregator.rounds.open_round(world.study, 0, H1, "")
    view_block = world.chain.block_number()
    world.grant(0, hospital=1)
    world.as_sender(world.patients[0]).consents.revoke(world.study)
    assert _submit(world, world.hospitals[0], consent_block=view_block).consent_block == view_block


def test_submit_with_future_consent_block_raises_consent_block_in_future(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    world.aggregator.rounds.open_round(world.study, 0, H1, "")
    with pytest.raises(ConsentBlockInFutureError):
        _submit(world, world.hospitals[0], consent_block=world.chain.block_number() + 50)


def test_submit_with_zero_hash_or_zero_samples_is_refused(eth_tester_ledger: LedgerWorld) -> None:
    world = eth_tester_ledger
    world.aggregator.rounds.open_round(world.study, 0, H1, "")
    with pytest.raises(ZeroHashError):
        _submit(world, world.hospitals[0], update_hash=Bytes32(bytes(32)))
    with pytest.raises(ZeroSamplesError):
        _submit(world, world.hospitals[0], num_samples=0)


def test_finalize_below_min_updates_raises_not_enough_updates(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    world.aggregator.rounds.open_round(world.study, 0, H1, "")
    with pytest.raises(NotEnoughUpdatesError) as info:
        world.aggregator.rounds.finalize_round(world.study, 0, _result(H2, "", "", 0))
    assert (info.value.arguments["update_count"], info.value.arguments["min_updates"]) == (0, 1)


def test_finalize_by_non_aggregator_raises_not_aggregator(eth_tester_ledger: LedgerWorld) -> None:
    world = eth_tester_ledger
    world.aggregator.rounds.open_round(world.study, 0, H1, "")
    _submit(world, world.hospitals[0])
    with pytest.raises(NotAggregatorError):
        world.hospitals[0].rounds.finalize_round(world.study, 0, _result(H2, "", "", 1))


def test_finalize_with_a_stale_update_count_raises_mismatch_and_changes_nothing(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    rounds = world.aggregator.rounds
    open_first_round(world)
    _submit(world, world.hospitals[0])
    _submit(world, world.hospitals[1])  # lands after the aggregator read one update
    before = rounds.get_round(world.study, 0)

    with pytest.raises(AggregatedUpdatesMismatchError) as info:
        rounds.finalize_round(world.study, 0, _result(H2, "bafkreimodel", "", 1))

    assert isinstance(info.value, consent.errors.RoundChangedError)
    assert (info.value.round, info.value.considered, info.value.submitted) == (0, 1, 2)
    assert info.value.arguments["study_id"] == bytes(world.study)
    assert rounds.get_round(world.study, 0) == before
    assert before.state is RoundState.OPEN
    with pytest.raises(AggregatedUpdatesMismatchError):  # more than on chain is refused too
        rounds.finalize_round(world.study, 0, _result(H2, "bafkreimodel", "", 3))


def test_finalize_with_the_current_update_count_succeeds_and_the_event_carries_it(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    rounds = world.aggregator.rounds
    open_first_round(world)
    _submit(world, world.hospitals[0])
    _submit(world, world.hospitals[1])

    finalized = rounds.finalize_round(
        world.study, 0, _result(H2, "bafkreimodel", "bafkreimetrics", 2)
    )

    assert finalized.update_count == 2
    record = rounds.get_round(world.study, 0)
    assert (record.state, record.update_count) == (RoundState.FINALIZED, 2)
    assert len(rounds.get_updates(world.study, 0)) == 2


def test_round_and_update_records_decode_by_abi_field_names_ignoring_unknown_fields() -> None:
    from chain._facade import _named
    from chain.round_ledger import Round

    abi = {
        "type": "tuple",
        "components": [
            {"name": "state", "type": "uint8"},  # order differs from today's struct
            {"name": "baseModelHash", "type": "bytes32"},
            {"name": "baseModelCid", "type": "string"},
            {"name": "modelHash", "type": "bytes32"},
            {"name": "modelCid", "type": "string"},
            {"name": "metricsCid", "type": "string"},
            {"name": "openedBlock", "type": "uint256"},
            {"name": "finalizedBlock", "type": "uint256"},
            {"name": "updateCount", "type": "uint32"},
            {"name": "revealDeadline", "type": "uint256"},  # a field a later version adds
        ],
    }
    raw = (1, H1, "bafkreibase", H2, "", "", 7, 0, 2, 99)

    record = Round.from_fields(3, _named(abi, raw))

    assert (record.round, record.state, record.base_model_hash) == (3, RoundState.OPEN, H1)
    assert (record.opened_block, record.update_count) == (7, 2)


def test_round_in_a_phase_this_client_does_not_know_is_a_named_error() -> None:
    from chain.errors import ChainError
    from chain.round_ledger import Round

    fields = {
        "baseModelHash": H1, "baseModelCid": "", "modelHash": H2, "modelCid": "",
        "metricsCid": "", "openedBlock": 1, "finalizedBlock": 0, "updateCount": 0, "state": 7,
    }  # fmt: skip
    with pytest.raises(ChainError, match="phase this client does not know"):
        Round.from_fields(0, fields)
