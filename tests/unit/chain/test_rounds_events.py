"""The audit's rounds rebuilt from the RoundLedger's events: the same records as the view calls
on the same chain (an open round included), a round whose logs the contract could not have
written read by view instead, and a forged update in the logs caught by the artifact check."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import pytest

from chain.audit import AuditVerifier
from chain.audit.view import LedgerView
from chain.events import LedgerEvent, RoundFinalized, RoundOpened, UpdateSubmitted
from chain.exclusions import ExclusionProofs
from chain.store import LocalStore
from consent.ids import Bytes32
from consent.records import RoundRecord
from tests.fixtures.ledger import LedgerWorld
from tests.unit.chain.audit_history import build_history
from tests.unit.chain.forged_logs import ROUND_LEDGER, Forge, forge_logs


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "store")


@pytest.fixture
def proofs_dir(tmp_path: Path) -> Path:
    return tmp_path / "proofs"


def _stored(world: LedgerWorld) -> tuple[RoundRecord, ...]:
    rounds = world.outsider.rounds
    return tuple(
        rounds.get_round_record(world.study, r) for r in range(rounds.round_count(world.study))
    )


def _view(world: LedgerWorld, store: LocalStore) -> LedgerView:
    return LedgerView.read(world.coordinator, store, ExclusionProofs(), world.study)


def test_rounds_from_events_are_the_view_calls_records_open_round_included(
    eth_tester_ledger: LedgerWorld, store: LocalStore, proofs_dir: Path
) -> None:
    world = eth_tester_ledger
    build_history(world, store, proofs_dir)
    last = _stored(world)[-1]
    world.aggregator.rounds.open_round(world.study, len(_stored(world)), last.model_hash, "bafk")

    stored = _stored(world)

    assert len(stored) == 3
    assert stored[-1].opened_block > 0
    assert all(r.updates for r in stored[:2])
    assert _view(world, store).rounds == stored


@pytest.mark.parametrize(
    "forge",
    [
        lambda events: [e for e in events if not isinstance(e, UpdateSubmitted) or e.round != 1],
        lambda events: [*events, *(e for e in events if isinstance(e, RoundOpened))],
        lambda events: [e for e in events if not isinstance(e, RoundFinalized) or e.round != 0],
        lambda events: [
            dataclasses.replace(e, round=e.round + 5) if isinstance(e, RoundOpened) else e
            for e in events
        ],
    ],
    ids=["update-dropped", "opened-twice", "finalization-dropped", "round-past-the-count"],
)
def test_logs_the_contract_could_not_have_written_are_read_by_view(
    eth_tester_ledger: LedgerWorld,
    store: LocalStore,
    proofs_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    forge: Forge,
) -> None:
    world = eth_tester_ledger
    build_history(world, store, proofs_dir)
    stored = _stored(world)
    forge_logs(monkeypatch, ROUND_LEDGER, forge)

    assert _view(world, store).rounds == stored


def test_a_forged_update_hash_in_the_logs_fails_the_artifact_check(
    eth_tester_ledger: LedgerWorld,
    store: LocalStore,
    proofs_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = eth_tester_ledger
    build_history(world, store, proofs_dir)

    def forged(events: Sequence[LedgerEvent]) -> list[LedgerEvent]:
        return [
            dataclasses.replace(e, update_hash=Bytes32(b"\x66" * 32))
            if isinstance(e, UpdateSubmitted) and e.round == 1
            else e
            for e in events
        ]

    forge_logs(monkeypatch, ROUND_LEDGER, forged)
    report = AuditVerifier(world.coordinator, store, ExclusionProofs.load(proofs_dir)).verify(
        world.study
    )

    assert not report.passed
    assert "artifact" in {f.check for f in report.failures}
    assert {f.round for f in report.failures if f.check == "artifact"} == {1}
