"""The trainers of an embedded round stepping at once (`api.embedded_steps`, issue 19): the same
models, metrics and update order as stepping in sequence, the audit passing, the submissions in
hospital order even when an earlier hospital is slow, and a trainer's failure raised as is."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from api.embedded import EmbeddedStudy
from api.enrolment import Enrolment
from chain.audit import AuditVerifier
from chain.exclusions import ExclusionProofs
from fl.roles import TrainerOutcome
from tests.unit.api.test_embedded_consent import PLAN, records

HOSPITALS = 3


def _study(tmp_path: Path, *, concurrent: bool) -> tuple[EmbeddedStudy, list[Enrolment]]:
    study = EmbeddedStudy.create(
        tmp_path, hospitals=HOSPITALS, plan=PLAN, rounds=3, concurrent=concurrent
    )
    return study, [study.enroll(k, records(k, 8)) for k in range(HOSPITALS)]


def _run(tmp_path: Path, *, concurrent: bool) -> list[tuple[object, ...]]:
    """Three rounds (a revocation after the first); per round what must not depend on the
    stepping: the model and metrics CIDs, the weights, the update order and the report order."""
    study, enrolments = _study(tmp_path, concurrent=concurrent)
    try:
        seen: list[tuple[object, ...]] = []
        for round_ in range(3):
            report = study.run_round()
            record = study.aggregator_ledger.rounds.get_round_record(study.study, report.round)
            seen.append(
                (
                    report.aggregate.model_hash,
                    report.aggregate.metrics_cid,
                    report.aggregate.accepted,
                    tuple(u.hospital for u in record.updates),
                    tuple(report.trainers),
                )
            )
            if round_ == 0:
                study.revoke(enrolments[1].keys["h1-r0"])  # the same row left out in both
        proofs = tmp_path / "proofs"
        study.write_exclusion_proofs(proofs)
        audit = AuditVerifier(study.coordinator, study.store, ExclusionProofs.load(proofs))
        report = audit.verify(study.study)
        assert report.passed, report.failures
        return seen
    finally:
        study.close()


def test_concurrent_rounds_give_the_same_models_metrics_and_order_as_sequential(
    tmp_path: Path,
) -> None:
    sequential = _run(tmp_path / "sequential", concurrent=False)
    concurrent = _run(tmp_path / "concurrent", concurrent=True)

    assert concurrent == sequential
    hospitals = sequential[0][4]
    assert all(order == hospitals for *_, order in concurrent)  # the report in hospital order
    assert all(updates == hospitals for *_, updates, _ in concurrent)  # so is the chain's


def test_a_slow_earlier_hospital_still_submits_first(tmp_path: Path) -> None:
    study, _ = _study(tmp_path, concurrent=True)
    try:
        slow = study.trainers[0]
        real = slow.step
        entered = threading.Event()

        def slow_step() -> TrainerOutcome | None:
            entered.set()
            time.sleep(0.5)  # the others train and seal meanwhile; their submit waits its turn
            return real()

        slow.step = slow_step  # type: ignore[method-assign]
        report = study.run_round()

        record = study.aggregator_ledger.rounds.get_round_record(study.study, report.round)
        assert entered.is_set()
        assert tuple(u.hospital for u in record.updates) == tuple(
            study.hospital(k) for k in range(HOSPITALS)
        )
    finally:
        study.close()


def test_a_failing_trainer_raises_its_error_after_the_others_stepped(tmp_path: Path) -> None:
    study, _ = _study(tmp_path, concurrent=True)
    try:
        failing = study.trainers[1]

        def broken() -> TrainerOutcome | None:
            raise RuntimeError("hospital 1 failed")

        failing.step = broken  # type: ignore[method-assign]
        with pytest.raises(RuntimeError, match="hospital 1 failed"):
            study.run_round()

        record = study.aggregator.current_round()
        assert record is not None
        # the hospital after the failed one took its turn: nothing waits on a failed step
        assert {u.hospital for u in record.updates} == {study.hospital(0), study.hospital(2)}
        assert study.trainers[0].step() is None  # done with the round; stepping by hand works
    finally:
        study.close()
