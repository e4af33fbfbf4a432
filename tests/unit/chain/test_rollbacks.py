"""Rollbacks on eth-tester (issue 16): only the aggregator records, once per open round, a base
round in the study's history whose base model the round was opened on, serving revocations that
are on chain; every custom error and the event."""

from __future__ import annotations

import pytest

from chain.deploy import Ledger
from chain.errors import UnknownStudyError
from chain.events import RollbackRecorded
from chain.rollback_errors import (
    BaseModelMismatchError,
    BaseOutsideHistoryError,
    NoRevocationsServedError,
    PatientNotRevokedError,
    RollbackAlreadyRecordedError,
)
from chain.rollbacks import Rollbacks
from chain.round_ledger_errors import NotAggregatorError, RoundNotOpenError
from consent.ids import Bytes32, study_id
from consent.lineage import RollbackRecord
from consent.records import RoundResult, UpdateSubmission
from tests.fixtures.ledger import LedgerWorld

BASE = Bytes32(b"\x01" * 32)


def facade(ledger: Ledger) -> Rollbacks:
    assert ledger.rollbacks is not None
    return ledger.rollbacks


def model(round_: int) -> Bytes32:
    return Bytes32(bytes([0x10 + round_]) * 32)


def finished(world: LedgerWorld, round_: int, base: Bytes32) -> None:
    """Open `round_` on `base`, one update from hospital 0, finalize with `model(round_)`."""
    rounds = world.aggregator.rounds
    rounds.open_round(world.study, round_, base, f"bafkreibase{round_}")
    world.hospitals[0].rounds.submit_update(
        world.study,
        round_,
        UpdateSubmission(
            update_hash=Bytes32(b"\x02" * 32),
            update_cid="bafkreiupdate",
            num_samples=4,
            num_patients=1,
            data_root=Bytes32(b"\x03" * 32),
            consent_block=world.chain.block_number(),
        ),
    )
    rounds.finalize_round(
        world.study,
        round_,
        RoundResult(
            model_hash=model(round_),
            model_cid=f"bafkreimodel{round_}",
            metrics_cid="bafkreimetrics",
            considered_updates=1,
        ),
    )


@pytest.fixture
def history(eth_tester_ledger: LedgerWorld) -> LedgerWorld:
    """Rounds 0 and 1 finalized; patient 0 granted (hospital 0) then revoked; round 2 opened
    as a rollback on round 0's base (the initial model)."""
    world = eth_tester_ledger
    world.grant(0, 0)
    world.grant(1, 0)
    finished(world, 0, BASE)
    finished(world, 1, model(0))
    world.as_sender(world.patients[0]).consents.revoke(world.study)
    world.aggregator.rounds.open_round(world.study, 2, BASE, "bafkreibase0")
    return world


def test_a_rollback_is_recorded_with_its_reason_revocations_and_base(history: LedgerWorld) -> None:
    world = history
    record = RollbackRecord(2, 0, "unlearn revoked consent", (world.patient(0),))
    event = facade(world.aggregator).record_rollback(world.study, record)
    assert isinstance(event, RollbackRecorded)
    assert (event.round, event.base_round, event.reason) == (2, 0, "unlearn revoked consent")
    assert event.patients == (world.patient(0),)
    stored = facade(world.outsider).get_rollback(world.study, 2)
    assert stored is not None
    assert (stored.base_round, stored.patients) == (0, (world.patient(0),))
    assert stored.recorded_block == event.position.block_number
    assert facade(world.outsider).get_rollback(world.study, 1) is None
    assert set(facade(world.outsider).rollbacks(world.study)) == {2}


def test_a_base_outside_the_studys_history_is_refused(history: LedgerWorld) -> None:
    world = history
    for base_round in (2, 3, 2**63):
        record = RollbackRecord(2, base_round, "unlearn", (world.patient(0),))
        with pytest.raises(BaseOutsideHistoryError) as caught:
            facade(world.aggregator).record_rollback(world.study, record)
        assert caught.value.arguments["base_round"] == base_round
    assert facade(world.outsider).get_rollback(world.study, 2) is None


def test_a_base_round_whose_base_is_not_the_rounds_base_is_refused(history: LedgerWorld) -> None:
    world = history
    record = RollbackRecord(2, 1, "unlearn", (world.patient(0),))  # round 1's base is model(0)
    with pytest.raises(BaseModelMismatchError):
        facade(world.aggregator).record_rollback(world.study, record)


def test_only_the_aggregator_records_once_for_an_open_round(history: LedgerWorld) -> None:
    world = history
    record = RollbackRecord(2, 0, "unlearn", (world.patient(0),))
    with pytest.raises(NotAggregatorError):
        facade(world.hospitals[0]).record_rollback(world.study, record)
    with pytest.raises(UnknownStudyError):
        facade(world.aggregator).record_rollback(study_id("nope"), record)
    with pytest.raises(RoundNotOpenError):
        facade(world.aggregator).record_rollback(
            world.study, RollbackRecord(1, 0, "unlearn", (world.patient(0),))
        )
    facade(world.aggregator).record_rollback(world.study, record)
    with pytest.raises(RollbackAlreadyRecordedError):
        facade(world.aggregator).record_rollback(world.study, record)


def test_a_rollback_serves_revocations_that_are_on_chain(history: LedgerWorld) -> None:
    world = history
    with pytest.raises(NoRevocationsServedError):
        facade(world.aggregator).record_rollback(world.study, RollbackRecord(2, 0, "x", ()))
    not_revoked = RollbackRecord(2, 0, "x", (world.patient(0), world.patient(1)))
    with pytest.raises(PatientNotRevokedError) as caught:
        facade(world.aggregator).record_rollback(world.study, not_revoked)
    assert caught.value.arguments["index"] == 1
