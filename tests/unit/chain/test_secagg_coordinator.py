"""SecAggCoordinator on eth-tester: keys, deals, close, reveals, aborts; every event and error."""

from __future__ import annotations

import pytest

from chain.deploy import Ledger
from chain.secagg_coordinator import SecAggCoordinator
from chain.secagg_errors import (
    AlreadyRevealedError,
    InvalidThresholdError,
    KeyAlreadyDealtError,
    NoKeysRegisteredError,
    NotASurvivorError,
    RevealWindowOpenError,
    RoundAlreadyAbortedError,
    SecAggAlreadyConfiguredError,
    SecAggNotAggregatorError,
    SecAggNotConfiguredError,
    SecAggNotMemberError,
    SecAggRoundNotOpenError,
    SecAggUnknownStudyError,
    SecAggZeroValueError,
    SubmissionsAlreadyClosedError,
    SubmissionsNotClosedError,
    ThresholdReachedError,
)
from consent.ids import Bytes32, study_id
from consent.records import RoundResult, UpdateSubmission
from tests.fixtures.ledger import LedgerWorld, sender_of

BASE = Bytes32(b"\x0b" * 32)
ROOT = Bytes32(b"\x03" * 32)


def _secagg(ledger: Ledger) -> SecAggCoordinator:
    assert ledger.secagg is not None
    return ledger.secagg


def _key(i: int, kind: int) -> Bytes32:
    return Bytes32(bytes([kind]) * 31 + bytes([i + 1]))


def _set_up(world: LedgerWorld, *, threshold: int = 2, window: int = 0) -> None:
    _secagg(world.aggregator).configure(world.study, threshold, window)
    for i, hospital in enumerate(world.hospitals):
        _secagg(hospital).register_keys(world.study, _key(i, 0xA0), _key(i, 0x5E))
        _secagg(hospital).deal_key(world.study, Bytes32(bytes([i + 1]) * 32), f"bafkreideal{i}")


def _open(world: LedgerWorld, round_: int = 0) -> None:
    world.aggregator.rounds.open_round(world.study, round_, BASE, "bafkreibase")


def _submit(world: LedgerWorld, hospital: Ledger, round_: int = 0) -> None:
    """Submit a placeholder masked update; the hospital first gets one consented patient."""
    index = next(i for i, h in enumerate(world.hospitals) if h is hospital)
    world.grant(5 - index, index)
    submission = UpdateSubmission(
        update_hash=Bytes32(b"\x02" * 32),
        update_cid="bafkreimasked",
        num_samples=10,
        num_patients=1,
        data_root=ROOT,
        consent_block=world.chain.block_number(),
    )
    hospital.rounds.submit_update(world.study, round_, submission)


def test_configure_emits_and_refuses_twice_bad_thresholds_and_strangers(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    coordinator = _secagg(world.aggregator)
    with pytest.raises(InvalidThresholdError):
        coordinator.configure(world.study, 1, 0)
    with pytest.raises(SecAggNotAggregatorError):
        _secagg(world.hospitals[0]).configure(world.study, 2, 0)
    with pytest.raises(SecAggUnknownStudyError):
        coordinator.configure(study_id("no-such-study"), 2, 0)
    receipt = coordinator.configure(world.study, 2, 5)
    assert coordinator.emitted(receipt, "SecAggConfigured")[0]["threshold"] == 2
    assert coordinator.threshold(world.study) == 2
    with pytest.raises(SecAggAlreadyConfiguredError):
        coordinator.configure(world.study, 3, 0)


def test_keys_and_deals_are_recorded_with_events_and_checked(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    mine = _secagg(world.hospitals[0])
    with pytest.raises(SecAggNotMemberError):
        _secagg(world.outsider).register_keys(world.study, _key(0, 1), _key(0, 2))
    with pytest.raises(SecAggZeroValueError):
        mine.register_keys(world.study, Bytes32(bytes(32)), _key(0, 2))
    with pytest.raises(NoKeysRegisteredError):
        mine.deal_key(world.study, Bytes32(b"\x01" * 32), "bafkreideal")
    receipt = mine.register_keys(world.study, _key(0, 1), _key(0, 2))
    event = mine.emitted(receipt, "KeysRegistered")[0]
    assert (event["maskKey"], event["epoch"]) == (bytes(_key(0, 1)), 0)
    with pytest.raises(SecAggZeroValueError):
        mine.deal_key(world.study, Bytes32(bytes(32)), "bafkreideal")
    receipt = mine.deal_key(world.study, Bytes32(b"\x01" * 32), "bafkreideal")
    assert mine.emitted(receipt, "KeyDealt")[0]["dealCid"] == "bafkreideal"
    with pytest.raises(KeyAlreadyDealtError):
        mine.deal_key(world.study, Bytes32(b"\x01" * 32), "bafkreideal")
    keys = mine.get_keys(world.study, sender_of(world.hospitals[0]))
    assert (keys.mask_key, keys.deal_cid, keys.burned_block) == (_key(0, 1), "bafkreideal", 0)
    receipt = mine.register_keys(world.study, _key(0, 3), _key(0, 4))
    assert mine.emitted(receipt, "KeysRegistered")[0]["epoch"] == 1
    assert mine.get_keys(world.study, sender_of(world.hospitals[0])).dealt_block == 0


def test_dropout_below_threshold_burns_the_key_and_aborts_with_its_reason(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    _set_up(world)
    aggregator = _secagg(world.aggregator)
    with pytest.raises(SecAggRoundNotOpenError):
        aggregator.close_submissions(world.study, 0, 2)
    _open(world)
    roster = aggregator.roster(world.study, 0)
    assert set(roster) == {sender_of(h) for h in world.hospitals}
    first, second = world.hospitals
    with pytest.raises(SubmissionsNotClosedError):
        _secagg(first).reveal(world.study, 0, Bytes32(b"\x07" * 32), "bafkreireveal")
    _submit(world, first)
    receipt = aggregator.close_submissions(world.study, 0, 2)
    assert aggregator.emitted(receipt, "SubmissionsClosed")[0]["submitted"] == 1
    burned = aggregator.emitted(receipt, "KeyBurned")
    assert [b["hospital"] for b in burned] == [sender_of(second)]
    with pytest.raises(SubmissionsAlreadyClosedError):
        aggregator.close_submissions(world.study, 0, 2)
    assert aggregator.roster(world.study, 0) == roster  # the round's roster is kept
    with pytest.raises(NotASurvivorError):
        _secagg(second).reveal(world.study, 0, Bytes32(b"\x07" * 32), "bafkreireveal")
    receipt = _secagg(first).reveal(world.study, 0, Bytes32(b"\x07" * 32), "bafkreireveal")
    assert aggregator.emitted(receipt, "SharesRevealed")[0]["hospital"] == sender_of(first)
    with pytest.raises(AlreadyRevealedError):
        _secagg(first).reveal(world.study, 0, Bytes32(b"\x07" * 32), "bafkreireveal")
    receipt = aggregator.abort_round(world.study, 0, "too-few-submissions")
    event = aggregator.emitted(receipt, "SecAggRoundAborted")[0]
    assert (event["count"], event["threshold"]) == (1, 2)
    phase = aggregator.get_phase(world.study, 0)
    assert (phase.aborted, phase.abort_reason, phase.reveal_count) == (
        True,
        "too-few-submissions",
        1,
    )
    assert [r.hospital for r in aggregator.get_reveals(world.study, 0)] == [sender_of(first)]
    with pytest.raises(RoundAlreadyAbortedError):
        aggregator.abort_round(world.study, 0, "again")


def test_abort_is_refused_while_the_threshold_can_still_be_met(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    _set_up(world, window=50)
    aggregator = _secagg(world.aggregator)
    _open(world)
    with pytest.raises(SubmissionsNotClosedError):
        aggregator.abort_round(world.study, 0, "too-early")
    for hospital in world.hospitals:
        _submit(world, hospital)
    aggregator.close_submissions(world.study, 0, 2)
    with pytest.raises(RevealWindowOpenError):
        aggregator.abort_round(world.study, 0, "too-few-reveals")
    for hospital in world.hospitals:
        _secagg(hospital).reveal(world.study, 0, Bytes32(b"\x07" * 32), "bafkreireveal")
    with pytest.raises(ThresholdReachedError):
        aggregator.abort_round(world.study, 0, "too-few-reveals")
    with pytest.raises(SecAggNotAggregatorError):
        _secagg(world.hospitals[0]).abort_round(world.study, 0, "mutiny")


def test_an_update_after_the_close_is_not_a_survivor(eth_tester_ledger: LedgerWorld) -> None:
    world = eth_tester_ledger
    _set_up(world)
    _open(world)
    _submit(world, world.hospitals[0])
    _secagg(world.aggregator).close_submissions(world.study, 0, 2)
    _submit(world, world.hospitals[1])  # the ledger still takes it; the secure sum does not
    with pytest.raises(NotASurvivorError):
        _secagg(world.hospitals[1]).reveal(world.study, 0, Bytes32(b"\x07" * 32), "bafkreireveal")


def test_closing_needs_a_configured_study(eth_tester_ledger: LedgerWorld) -> None:
    world = eth_tester_ledger
    _open(world)
    with pytest.raises(SecAggNotConfiguredError):
        _secagg(world.aggregator).close_submissions(world.study, 0, 2)


def _finalize(world: LedgerWorld, round_: int, considered: int) -> None:
    result = RoundResult(
        model_hash=BASE, model_cid="bafkreibase", metrics_cid="", considered_updates=considered
    )
    world.aggregator.rounds.finalize_round(world.study, round_, result)


def test_a_rotated_key_binds_only_later_rounds_and_the_earlier_round_keeps_its_keys(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    _set_up(world)
    aggregator, mine = _secagg(world.aggregator), _secagg(world.hospitals[0])
    me = sender_of(world.hospitals[0])
    _open(world)
    for hospital in world.hospitals:
        _submit(world, hospital)
    roster0 = aggregator.roster(world.study, 0)
    mine.register_keys(world.study, _key(0, 0xA1), _key(0, 0x5F))  # mid-round: binds round 1 on
    receipt = mine.deal_key(world.study, Bytes32(b"\x09" * 32), "bafkreideal-rotated")
    event = mine.emitted(receipt, "KeyDealt")[0]
    assert (event["epoch"], event["fromRound"]) == (1, 1)
    assert aggregator.roster(world.study, 0) == roster0
    old, new = aggregator.keys_at(world.study, me, 0), aggregator.keys_at(world.study, me, 1)
    assert (old.epoch, old.mask_key, old.deal_cid, old.from_round) == (
        0,
        _key(0, 0xA0),
        "bafkreideal0",
        0,
    )
    assert (new.epoch, new.mask_key, new.deal_cid, new.from_round) == (
        1,
        _key(0, 0xA1),
        "bafkreideal-rotated",
        1,
    )
    assert aggregator.get_keys(world.study, me) == new
    assert aggregator.key_history(world.study, me) == (old, new)
    aggregator.close_submissions(world.study, 0, 2)
    _finalize(world, 0, 2)
    _open(world, 1)
    assert set(aggregator.roster(world.study, 1)) == set(roster0)
    assert aggregator.keys_at(world.study, me, 0) == old  # round 0's transcript is unchanged


def test_a_burned_hospital_rejoins_with_a_new_epoch_from_the_next_round(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    _set_up(world)
    aggregator = _secagg(world.aggregator)
    first, second = world.hospitals
    gone = sender_of(second)
    _open(world)
    _submit(world, first)
    aggregator.close_submissions(world.study, 0, 2)  # burns the second's epoch 0
    burned = aggregator.keys_at(world.study, gone, 0)
    assert burned.burned_block != 0
    _secagg(second).register_keys(world.study, _key(1, 0xA7), _key(1, 0x57))
    _secagg(second).register_keys(world.study, _key(1, 0xA8), _key(1, 0x58))  # replaces in place
    assert [k.epoch for k in aggregator.key_history(world.study, gone)] == [0, 1]
    _secagg(second).deal_key(world.study, Bytes32(b"\x08" * 32), "bafkreideal-new")
    aggregator.abort_round(world.study, 0, "too-few-submissions")
    _finalize(world, 0, 1)
    _open(world, 1)
    assert aggregator.roster(world.study, 1) == tuple(sorted({sender_of(first), gone}))
    rejoined = aggregator.keys_at(world.study, gone, 1)
    assert (rejoined.epoch, rejoined.mask_key, rejoined.burned_block) == (1, _key(1, 0xA8), 0)
    assert aggregator.keys_at(world.study, gone, 0) == burned  # the burned epoch kept round 0
    assert gone in aggregator.roster(world.study, 0)


def test_a_hospital_without_a_dealt_epoch_binds_no_round(eth_tester_ledger: LedgerWorld) -> None:
    world = eth_tester_ledger
    _secagg(world.aggregator).configure(world.study, 2, 0)
    mine = _secagg(world.hospitals[0])
    mine.register_keys(world.study, _key(0, 0xA0), _key(0, 0x5E))
    _open(world)
    me = sender_of(world.hospitals[0])
    assert mine.keys_at(world.study, me, 0).mask_key == Bytes32(bytes(32))
    assert mine.roster(world.study, 0) == ()
