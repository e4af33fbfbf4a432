"""An aggregator killed between opening a rollback round and recording it resumes on the real
contracts (eth-tester, issue 16): the restarted aggregator records the rollback on chain with the
same base round and the study retrains to a clean head."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from api.embedded import EmbeddedStudy
from chain.ledger import ChainLedger
from consent.ids import StudyId
from consent.lineage import Revocation, RollbackRecord, lineage
from fl.ports import RoundState
from fl.roles import Aggregator
from tests.unit.api.test_embedded_consent import records
from tests.unit.chain.audit.test_lineage_check import PLAN


class KilledBeforeRecording:
    """The Rollbacks port of an aggregator process that dies as it sends the record."""

    def __init__(self, inner: ChainLedger) -> None:
        self.inner = inner

    def rollbacks(self, study: StudyId) -> dict[int, RollbackRecord]:
        return self.inner.rollbacks(study)

    def revocations(self, study: StudyId) -> Sequence[Revocation]:
        return self.inner.revocations(study)

    def record_rollback(self, study: StudyId, record: RollbackRecord) -> int:
        raise KeyboardInterrupt("aggregator killed")


def aggregator(study: EmbeddedStudy, port: object = None) -> Aggregator:
    ledger = ChainLedger(study.aggregator_ledger)
    return Aggregator(
        study=study.study,
        ledger=ledger,
        store=study.store,
        seal_key=study.seal.private_key,
        rounds=2,
        plan=PLAN,
        unlearning=port,  # type: ignore[arg-type]
    )


def test_a_rollback_survives_an_aggregator_restart(tmp_path: Path) -> None:
    study = EmbeddedStudy.create(tmp_path, hospitals=2, plan=PLAN, rounds=2)
    try:
        enrolments = [study.enroll(k, records(k, 10)) for k in range(2)]
        study.run_round()
        study.run_round()
        study.revoke(enrolments[1].keys["h1-r2"])

        doomed = aggregator(study, KilledBeforeRecording(ChainLedger(study.aggregator_ledger)))
        with pytest.raises(KeyboardInterrupt):
            doomed.poll()
        rollbacks = study.coordinator.rollbacks
        assert rollbacks is not None
        opened = study.coordinator.rounds.get_round_record(study.study, 2)
        assert opened.state == RoundState.OPEN
        assert rollbacks.get_rollback(study.study, 2) is None

        restarted = aggregator(study)
        restarted.poll()  # resumes: records the open round as the rollback it is
        record = rollbacks.get_rollback(study.study, 2)
        assert record is not None
        assert record.base_round == 0
        assert record.patients == (enrolments[1].keys["h1-r2"].address,)
        while not restarted.done():
            for trainer in study.trainers.values():
                trainer.step()
            restarted.poll()
        head = restarted.current_round()
        assert head is not None
        assert lineage(head.round, rollbacks.rollbacks(study.study)) == (2, 3)
    finally:
        study.close()
