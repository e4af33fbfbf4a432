"""Contributions on eth-tester: only the aggregator records, once per finalized round, only for
the round's hospitals, sorted; values sum per (study, hospital); every custom error and the
event."""

from __future__ import annotations

import pytest

from chain.contributions import Contributions
from chain.contributions_errors import (
    ContributionsAlreadyRecordedError,
    HospitalsNotSortedError,
    NotARoundParticipantError,
    RoundNotFinalizedError,
    ValueCountMismatchError,
    ZeroJudgementHashError,
)
from chain.deploy import Ledger
from chain.errors import UnknownStudyError
from chain.events import ContributionsRecorded
from chain.ledger import ChainLedger
from chain.round_ledger_errors import NotAggregatorError
from consent.contributions import VALUE_SCALE, ContributionRecord, InvalidContributionError
from consent.ids import Address, Bytes32, study_id
from consent.records import RoundResult, UpdateSubmission
from tests.fixtures.ledger import LedgerWorld, sender_of

DIGEST = Bytes32(b"\x07" * 32)


def facade(ledger: Ledger) -> Contributions:
    assert ledger.contributions is not None
    return ledger.contributions


def finished_round(world: LedgerWorld, round_: int, hospitals: int = 2) -> list[Address]:
    """Open, submit (the first `hospitals` hospitals) and finalize `round_`."""
    rounds = world.aggregator.rounds
    rounds.open_round(world.study, round_, Bytes32(b"\x01" * 32), "bafkreibase")
    members = []
    for k, hospital in enumerate(world.hospitals[:hospitals]):
        me = sender_of(hospital)
        if world.coordinator.consents.active_consent_count(world.study, me) == 0:
            world.grant(5 - k, k)
        hospital.rounds.submit_update(
            world.study,
            round_,
            UpdateSubmission(
                update_hash=Bytes32(bytes([k + 2]) * 32),
                update_cid=f"bafkreiupdate{k}",
                num_samples=10,
                num_patients=1,
                data_root=Bytes32(b"\x03" * 32),
                consent_block=world.chain.block_number(),
            ),
        )
        members.append(me)
    rounds.finalize_round(
        world.study,
        round_,
        RoundResult(
            model_hash=Bytes32(b"\x09" * 32),
            model_cid="bafkreimodel",
            metrics_cid="bafkreimetrics",
            considered_updates=len(members),
        ),
    )
    return members


def record_of(values: dict[Address, float]) -> ContributionRecord:
    return ContributionRecord.of(DIGEST, values)


def test_recorded_values_sum_per_hospital_over_rounds(eth_tester_ledger: LedgerWorld) -> None:
    world = eth_tester_ledger
    a, b = finished_round(world, 0)
    event = facade(world.aggregator).record_round(world.study, 0, record_of({a: 0.25, b: -0.5}))
    finished_round(world, 1)
    facade(world.aggregator).record_round(world.study, 1, record_of({a: 0.5, b: 0.125}))

    reader = facade(world.outsider)
    assert isinstance(event, ContributionsRecorded)
    assert (event.round, event.judgement_hash) == (0, DIGEST)
    assert dict(zip(event.hospitals, event.values, strict=True)) == {
        a: VALUE_SCALE // 4,
        b: -VALUE_SCALE // 2,
    }
    assert reader.cumulative_value(world.study, a) == VALUE_SCALE * 3 // 4
    assert reader.cumulative_value(world.study, b) == -VALUE_SCALE * 3 // 8
    assert reader.round_value(world.study, 1, b) == VALUE_SCALE // 8
    recorded = reader.get_round(world.study, 0)
    assert recorded.recorded
    assert (recorded.judgement_hash, recorded.value_count) == (DIGEST, 2)
    assert recorded.recorded_block == event.position.block_number
    assert not reader.get_round(world.study, 2).recorded


def test_a_round_is_recorded_once(eth_tester_ledger: LedgerWorld) -> None:
    world = eth_tester_ledger
    a, _ = finished_round(world, 0)
    facade(world.aggregator).record_round(world.study, 0, record_of({a: 1.0}))

    with pytest.raises(ContributionsAlreadyRecordedError):
        facade(world.aggregator).record_round(world.study, 0, record_of({a: 1.0}))
    assert facade(world.outsider).cumulative_value(world.study, a) == VALUE_SCALE


def test_only_the_aggregator_records(eth_tester_ledger: LedgerWorld) -> None:
    world = eth_tester_ledger
    a, _ = finished_round(world, 0)

    with pytest.raises(NotAggregatorError):
        facade(world.hospitals[0]).record_round(world.study, 0, record_of({a: 9.0}))
    assert facade(world.outsider).cumulative_value(world.study, a) == 0


def test_an_open_or_unknown_round_or_study_is_refused(eth_tester_ledger: LedgerWorld) -> None:
    world = eth_tester_ledger
    world.aggregator.rounds.open_round(world.study, 0, Bytes32(b"\x01" * 32), "bafkreibase")

    with pytest.raises(RoundNotFinalizedError):
        facade(world.aggregator).record_round(world.study, 0, record_of({}))
    with pytest.raises(RoundNotFinalizedError):
        facade(world.aggregator).record_round(world.study, 5, record_of({}))
    with pytest.raises(UnknownStudyError):
        facade(world.aggregator).record_round(study_id("nope"), 0, record_of({}))


def test_a_value_for_a_hospital_outside_the_round_is_refused(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    (a,) = finished_round(world, 0, hospitals=1)
    stranger = sender_of(world.outsider)

    with pytest.raises(NotARoundParticipantError) as info:
        facade(world.aggregator).record_round(world.study, 0, record_of({a: 1.0, stranger: 1.0}))
    assert info.value.arguments["hospital"].lower() == stranger.lower()


def test_malformed_records_are_refused_by_the_contract(eth_tester_ledger: LedgerWorld) -> None:
    world = eth_tester_ledger
    a, b = sorted(finished_round(world, 0), key=lambda h: int(h, 16))
    raw = facade(world.aggregator)
    study = bytes(world.study)

    with pytest.raises(ZeroJudgementHashError):
        raw.record_round(world.study, 0, ContributionRecord(Bytes32(bytes(32))))
    # the value object refuses these before a transaction; the contract refuses them too
    with pytest.raises(HospitalsNotSortedError):
        raw._transact(300_000, "recordRound", study, 0, bytes(DIGEST), [b, a], [1, 2])
    with pytest.raises(HospitalsNotSortedError):
        raw._transact(300_000, "recordRound", study, 0, bytes(DIGEST), [a, a], [1, 2])
    with pytest.raises(ValueCountMismatchError):
        raw._transact(300_000, "recordRound", study, 0, bytes(DIGEST), [a], [1, 2])
    assert not raw.get_round(world.study, 0).recorded


def test_the_record_value_object_refuses_what_the_contract_would(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    a, b = sorted((sender_of(h) for h in world.hospitals[:2]), key=lambda h: int(h, 16))

    with pytest.raises(InvalidContributionError):
        ContributionRecord(DIGEST, (b, a), (1, 2))
    with pytest.raises(InvalidContributionError):
        ContributionRecord(DIGEST, (a,), (1, 2))
    with pytest.raises(InvalidContributionError):
        ContributionRecord.of(DIGEST, {a: float("nan")})
    assert ContributionRecord.of(DIGEST, {b: 1.0, a: -1.0}).hospitals == (a, b)


def test_a_record_sent_without_waiting_lands_when_settled_and_a_refusal_raises_then(
    eth_tester_ledger: LedgerWorld,
) -> None:
    """`ChainLedger.send_contributions` / `settle_contributions` (issue 19): the record's
    event block once settled; a refused record raises the contract's error at settlement."""
    world = eth_tester_ledger
    ledger = ChainLedger(world.aggregator)
    a, b = finished_round(world, 0)

    pending = ledger.send_contributions(world.study, 0, record_of({a: 0.25, b: -0.5}))
    block = ledger.settle_contributions(pending)

    assert facade(world.outsider).get_round(world.study, 0).recorded_block == block
    again = ledger.send_contributions(world.study, 0, record_of({a: 0.25, b: -0.5}))
    with pytest.raises(ContributionsAlreadyRecordedError):
        ledger.settle_contributions(again)
    assert facade(world.outsider).cumulative_value(world.study, a) == VALUE_SCALE // 4
