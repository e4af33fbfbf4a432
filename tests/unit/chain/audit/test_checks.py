"""Each audit check on its own, over a view of an honest eth-tester history that a lying node
(or a forked chain) then alters: the lies the contract refuses on chain, caught by the audit."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from chain.audit import (
    CHECKS,
    DEFAULT_CHECKS,
    AuditCheck,
    AuditView,
    LedgerView,
    MisnamedCheckError,
    run_checks,
)
from chain.audit.freshness import Freshness
from chain.audit.membership import Membership
from chain.audit.round_sequence import RoundSequence
from chain.events import HospitalAdded
from chain.exclusions import ExclusionProofs
from chain.store import LocalStore
from consent.rounds import RoundState
from tests.fixtures.ledger import LedgerWorld, sender_of
from tests.unit.chain.audit_history import build_history


@pytest.fixture
def honest(eth_tester_ledger: LedgerWorld, tmp_path: Path) -> LedgerView:
    store = LocalStore(tmp_path / "store")
    build_history(eth_tester_ledger, store, tmp_path / "proofs")
    proofs = ExclusionProofs.load(tmp_path / "proofs")
    world = eth_tester_ledger
    return LedgerView.read(world.coordinator, store, proofs, world.study)


def _failed(view: AuditView, check: str) -> list[AuditCheck]:
    return [c for c in run_checks(view).checks if not c.passed and c.check == check]


def test_every_registered_check_passes_on_the_honest_view(honest: LedgerView) -> None:
    report = run_checks(honest)
    assert report.passed, report.failures
    assert tuple(c.name for c in DEFAULT_CHECKS) == CHECKS
    assert [c.check for c in report.checks] == sorted(
        (c.check for c in report.checks), key=CHECKS.index
    )


def test_round_left_open_under_a_later_round_fails_the_round_sequence_check(
    honest: LedgerView,
) -> None:
    reopened = dataclasses.replace(honest.rounds[0], state=RoundState.OPEN)
    view = dataclasses.replace(honest, rounds=(reopened, *honest.rounds[1:]))

    failed = RoundSequence().run(view)

    assert [(c.round, c.passed) for c in failed] == [(0, False), (1, True)]
    assert "not finalized" in failed[0].detail


def test_round_opened_before_its_predecessor_was_finalized_fails_naming_both_blocks(
    honest: LedgerView,
) -> None:
    early = dataclasses.replace(honest.rounds[1], opened_block=honest.rounds[0].finalized_block - 1)
    view = dataclasses.replace(honest, rounds=(honest.rounds[0], early))

    (failure,) = _failed(view, "round-sequence")

    assert failure.round == 1
    assert f"before round 0 was finalized at block {honest.rounds[0].finalized_block}" in (
        failure.detail
    )


def test_update_from_a_hospital_never_admitted_fails_the_membership_check(
    honest: LedgerView, eth_tester_ledger: LedgerWorld
) -> None:
    outsider = sender_of(eth_tester_ledger.hospitals[1])
    view = dataclasses.replace(
        honest,
        membership_events=tuple(
            e
            for e in honest.membership_events
            if not (isinstance(e, HospitalAdded) and e.hospital == outsider)
        ),
    )

    failed = [c for c in Membership().run(view) if not c.passed]

    assert {(c.round, c.hospital) for c in failed} == {(0, outsider), (1, outsider)}
    assert all("not a member" in c.detail for c in failed)


def test_update_on_a_consent_view_older_than_a_revocation_fails_the_freshness_check(
    honest: LedgerView, eth_tester_ledger: LedgerWorld
) -> None:
    hospital = sender_of(eth_tester_ledger.hospitals[0])
    stale = tuple(
        dataclasses.replace(u, consent_block=honest.rounds[0].opened_block)
        if u.hospital == hospital
        else u
        for u in honest.rounds[1].updates
    )
    round_1 = dataclasses.replace(honest.rounds[1], updates=stale)
    view = dataclasses.replace(honest, rounds=(honest.rounds[0], round_1))

    failed = [c for c in Freshness().run(view) if not c.passed]

    assert [(c.round, c.hospital) for c in failed] == [(1, hospital)]
    assert "predates a revocation" in failed[0].detail


def test_update_without_a_submission_event_fails_membership_and_freshness(
    honest: LedgerView,
) -> None:
    view = dataclasses.replace(honest, submissions={})

    assert {c.check for c in run_checks(view).failures} == {"membership", "freshness"}
    assert all("no UpdateSubmitted event" in c.detail for c in run_checks(view).failures)


class _SampleCount:
    """A check a new mode would add: every update covers at least 10 samples."""

    name = "sample-count"

    def run(self, view: AuditView) -> list[AuditCheck]:
        return [
            AuditCheck(self.name, u.num_samples >= 10, "update", str(u.num_samples), r.round)
            for r in view.rounds
            for u in view.updates(r.round)
        ]


def test_a_new_check_runs_beside_the_others_without_changing_them(honest: LedgerView) -> None:
    report = run_checks(honest, (*DEFAULT_CHECKS, _SampleCount()))
    baseline = run_checks(honest)

    assert report.checks[: len(baseline.checks)] == baseline.checks
    added = report.checks[len(baseline.checks) :]
    assert {c.check for c in added} == {"sample-count"}
    assert len(added) == sum(len(r.updates) for r in honest.rounds)


class _Misnamed:
    """Reports under a name that is not its own."""

    name = "misnamed"

    def run(self, view: AuditView) -> list[AuditCheck]:
        return [AuditCheck("freshness", True, "update", "borrowed name")]


def test_a_check_reporting_under_another_name_is_refused(honest: LedgerView) -> None:
    with pytest.raises(MisnamedCheckError, match="misnamed"):
        run_checks(honest, (_Misnamed(),))
