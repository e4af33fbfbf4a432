"""The audit's contributions snapshot rebuilt from `ContributionsRecorded` events: the same as
the view calls give on the same chain, and what the `contributions` check catches when a node
forges an event (a value changed, a round recorded twice) or lies in the cumulative view that is
still read from storage."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from chain.audit import AuditReport, AuditVerifier
from chain.audit.view import LedgerView
from chain.contributions import Contributions
from chain.events import ContributionsRecorded, LedgerEvent
from chain.exclusions import ExclusionProofs
from chain.store import LocalStore
from consent.rounds import RoundState
from tests.fixtures.ledger import LedgerWorld, sender_of
from tests.unit.chain.audit_history import build_history
from tests.unit.chain.forged_logs import CONTRIBUTIONS, forge_logs


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "store")


@pytest.fixture
def proofs_dir(tmp_path: Path) -> Path:
    return tmp_path / "proofs"


def _verify(world: LedgerWorld, store: LocalStore, proofs_dir: Path) -> AuditReport:
    return AuditVerifier(world.coordinator, store, ExclusionProofs.load(proofs_dir)).verify(
        world.study
    )


@pytest.mark.parametrize("how", ["honest", "inflated", "missing"])
def test_the_snapshot_from_events_is_the_view_calls_snapshot(
    eth_tester_ledger: LedgerWorld, store: LocalStore, proofs_dir: Path, how: str
) -> None:
    world = eth_tester_ledger
    build_history(world, store, proofs_dir, contributions=how)
    contributions = world.coordinator.contributions
    assert isinstance(contributions, Contributions)

    view = LedgerView.read(world.coordinator, store, ExclusionProofs(), world.study)
    participants = {
        r.round: [u.hospital for u in r.updates]
        for r in view.rounds
        if r.state is RoundState.FINALIZED
    }

    assert len(participants) == 2
    assert view.contributions == contributions.snapshot(world.study, participants)
    assert any(r.recorded for r in view.contributions.rounds.values())


def test_a_forged_value_in_an_event_fails_the_round_and_the_cumulative_check(
    eth_tester_ledger: LedgerWorld,
    store: LocalStore,
    proofs_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = eth_tester_ledger
    build_history(world, store, proofs_dir)
    assert _verify(world, store, proofs_dir).passed

    def inflate(events: Sequence[LedgerEvent]) -> list[LedgerEvent]:
        return [
            dataclasses.replace(e, values=(e.values[0] + 1, *e.values[1:]))
            if isinstance(e, ContributionsRecorded) and e.round == 1
            else e
            for e in events
        ]

    forge_logs(monkeypatch, CONTRIBUTIONS, inflate)
    failures = _verify(world, store, proofs_dir).failures

    assert {f.check for f in failures} == {"contributions"}
    round_failure = next(f for f in failures if f.round == 1)
    assert "on chain" in round_failure.detail
    assert "in the metrics" in round_failure.detail


def test_a_round_recorded_twice_in_the_logs_fails_its_round(
    eth_tester_ledger: LedgerWorld,
    store: LocalStore,
    proofs_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = eth_tester_ledger
    build_history(world, store, proofs_dir)

    def repeat(events: Sequence[LedgerEvent]) -> list[LedgerEvent]:
        return [*events, *(e for e in events if isinstance(e, ContributionsRecorded))]

    forge_logs(monkeypatch, CONTRIBUTIONS, repeat)
    failures = _verify(world, store, proofs_dir).failures

    assert {f.check for f in failures} == {"contributions"}
    assert {f.round for f in failures} == {0, 1}
    assert all("not the ones recorded on chain" in f.detail for f in failures)


def test_a_lying_cumulative_view_still_fails_the_cumulative_check(
    eth_tester_ledger: LedgerWorld,
    store: LocalStore,
    proofs_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = eth_tester_ledger
    build_history(world, store, proofs_dir)
    hospital = sender_of(world.hospitals[0])
    real = Contributions.cumulative_value

    def lying(self: Contributions, study: Any, who: Any) -> int:
        return real(self, study, who) + (1 if who == hospital else 0)

    monkeypatch.setattr(Contributions, "cumulative_value", lying)
    failures = _verify(world, store, proofs_dir).failures

    assert len(failures) == 1, failures
    assert failures[0].hospital == hospital
    assert "sum to" in failures[0].detail
