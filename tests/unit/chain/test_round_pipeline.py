"""The round pipeline of issue 19 on eth-tester: `getRoundWithUpdates` / `getLatestRound` (a
round with its updates in one view) and `finalizeAndOpenRound` (finalize round r and open r + 1
in one transaction), refused exactly where `finalizeRound` is, with nothing changed then."""

from __future__ import annotations

from pathlib import Path

import pytest

import consent.errors
from chain.audit import AuditVerifier
from chain.errors import UnknownStudyError
from chain.events import RoundFinalized, RoundOpened
from chain.exclusions import ExclusionProofs
from chain.ledger import ChainLedger
from chain.round_ledger import RoundState
from chain.round_ledger_errors import (
    AggregatedUpdatesMismatchError,
    NotAggregatorError,
    NotEnoughUpdatesError,
    RoundNotOpenError,
    UnexpectedRoundError,
    ZeroHashError,
)
from chain.store import LocalStore
from chain.transactions import PendingTransaction
from consent.ids import Bytes32, study_id
from consent.records import RoundResult
from tests.fixtures.ledger import LedgerWorld
from tests.fixtures.rounds import H1, H2, open_first_round
from tests.fixtures.rounds import result as _result
from tests.fixtures.rounds import submit as _submit
from tests.unit.chain.audit_history import build_history

H3 = Bytes32(b"\x07" * 32)


def test_one_view_returns_the_round_its_updates_and_the_round_count(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    rounds = world.aggregator.rounds
    assert rounds.latest_round(world.study) == (0, None)
    open_first_round(world)
    _submit(world, world.hospitals[0])
    _submit(world, world.hospitals[1])

    count, record = rounds.round_view(world.study, 0)
    latest_count, latest = rounds.latest_round(world.study)

    assert count == latest_count == 1
    assert latest == record
    assert (record.round, record.state, record.base_model_cid) == (
        0,
        RoundState.OPEN,
        "bafkreibase",
    )
    # the same round and updates as the separate views return them
    assert record == rounds.get_round(world.study, 0).record(rounds.get_updates(world.study, 0))
    assert rounds.round_view(world.study, 5)[1].state is RoundState.NONE  # never opened


def test_finalize_and_open_finalizes_r_and_opens_r_plus_one_on_its_model_with_two_events(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    rounds = world.aggregator.rounds
    open_first_round(world)
    _submit(world, world.hospitals[0])

    finalized, opened = rounds.finalize_and_open_round(
        world.study, 0, _result(H2, "bafkreimodel", "bafkreimetrics", 1)
    )

    assert isinstance(finalized, RoundFinalized)
    assert isinstance(opened, RoundOpened)
    assert (finalized.round, finalized.model_hash, finalized.update_count) == (0, H2, 1)
    assert (opened.round, opened.base_model_hash, opened.base_model_cid) == (1, H2, "bafkreimodel")
    assert finalized.position.block_number == opened.position.block_number  # one transaction
    count, latest = rounds.latest_round(world.study)
    assert latest is not None
    assert (count, latest.round, latest.state) == (2, 1, RoundState.OPEN)
    assert latest.opened_block == opened.position.block_number
    previous = rounds.get_round(world.study, 0)
    assert (previous.state, previous.model_cid, previous.metrics_cid) == (
        RoundState.FINALIZED, "bafkreimodel", "bafkreimetrics",
    )  # fmt: skip
    _submit(world, world.hospitals[0], round_=1)  # round 1 takes updates like any opened round


def _refused_changes_nothing(world: LedgerWorld, error: type[Exception], result: RoundResult,
                             *, by_hospital: bool = False) -> Exception:  # fmt: skip
    sender = world.hospitals[0] if by_hospital else world.aggregator
    before = world.aggregator.rounds.latest_round(world.study)
    block = world.chain.block_number()
    with pytest.raises(error) as info:
        sender.rounds.finalize_and_open_round(world.study, 0, result)
    assert world.aggregator.rounds.latest_round(world.study) == before
    assert world.aggregator.rounds.events(block + 1) == []  # no RoundFinalized, no RoundOpened
    return info.value


def test_finalize_and_open_refuses_what_finalize_refuses_and_changes_nothing(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    rounds = world.aggregator.rounds
    open_first_round(world)
    _refused_changes_nothing(world, NotEnoughUpdatesError, _result(H2, "m", "", 0))
    _submit(world, world.hospitals[0])
    _submit(world, world.hospitals[1])
    mismatch = _refused_changes_nothing(
        world, AggregatedUpdatesMismatchError, _result(H2, "m", "", 1)
    )
    assert isinstance(mismatch, consent.errors.RoundChangedError)  # the aggregator re-reads
    _refused_changes_nothing(world, ZeroHashError, _result(Bytes32(b"\x00" * 32), "m", "", 2))
    _refused_changes_nothing(world, NotAggregatorError, _result(H2, "m", "", 2), by_hospital=True)
    rounds.finalize_round(world.study, 0, _result(H2, "m", "", 2))
    _refused_changes_nothing(world, RoundNotOpenError, _result(H3, "m", "", 2))  # finalized
    with pytest.raises(UnknownStudyError):
        rounds.finalize_and_open_round(study_id("no-such-study"), 0, _result(H2, "m", "", 0))


def test_a_failed_pending_transaction_raises_its_named_error_when_settled(
    eth_tester_ledger: LedgerWorld,
) -> None:
    """Sent without waiting, a reverting transaction is not dropped: settling it raises the
    contract's custom error by name."""
    world = eth_tester_ledger
    rounds = world.aggregator.rounds
    open_first_round(world)

    pending = rounds._send(  # a round that is not the next one
        500_000, "openRound", bytes(world.study), 3, bytes(H1), "bafkreibase"
    )

    assert isinstance(pending, PendingTransaction)
    with pytest.raises(UnexpectedRoundError) as info:
        rounds._wait(pending)
    assert (info.value.arguments["round"], info.value.arguments["expected"]) == (3, 1)
    assert info.value.tx_hash == pending.tx_hash.to_0x_hex()


def test_chain_ledger_keeps_a_finalized_round_and_reads_an_open_one_again(
    eth_tester_ledger: LedgerWorld,
) -> None:
    world = eth_tester_ledger
    ledger = ChainLedger(world.aggregator)
    open_first_round(world)
    assert ledger.round(world.study, 0).updates == ()
    _submit(world, world.hospitals[0])
    assert len(ledger.round(world.study, 0).updates) == 1  # open: read again, sees the update

    ledger.finalize_and_open_round(world.study, 0, _result(H2, "bafkreimodel", "", 1))
    finalized = ledger.round(world.study, 0)
    latest = ledger.latest_round(world.study)

    assert finalized.state is RoundState.FINALIZED
    assert ledger.round(world.study, 0) is finalized  # kept: a finalized round never changes
    assert latest is not None
    assert (latest.round, latest.state) == (1, RoundState.OPEN)


def test_the_audit_reads_rounds_from_events_not_views_and_still_catches_a_tampered_round(
    eth_tester_ledger: LedgerWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world, store, proofs_dir = eth_tester_ledger, LocalStore(tmp_path / "store"), tmp_path / "p"
    history = build_history(world, store, proofs_dir)
    rounds = world.coordinator.rounds
    views: list[str] = []
    real = rounds._call_named

    def spied(name: str, *args: object) -> object:
        views.append(name)
        return real(name, *args)

    monkeypatch.setattr(rounds, "_call_named", spied)
    (block,) = store.block_paths(history.update_cids[1][0])  # tamper with round 1's update
    data = bytearray(block.read_bytes())
    data[3] ^= 0x01
    block.write_bytes(bytes(data))

    report = AuditVerifier(world.coordinator, store, ExclusionProofs.load(proofs_dir)).verify(
        world.study
    )

    # rounds and updates come from RoundOpened/UpdateSubmitted/RoundFinalized (chain/audit/
    # rounds_view.py): no round view at all for consistent logs
    assert [name for name in views if name.startswith("getRound")] == []
    assert not report.passed
    (failure,) = report.failures
    assert (failure.check, failure.round) == ("artifact", 1)
    assert history.update_cids[1][0] in failure.subject
