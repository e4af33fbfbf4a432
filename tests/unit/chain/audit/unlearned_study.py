"""Set-up shared by the lineage check's tests (`test_lineage_check`, `test_lineage_shards`): an
embedded `unlearn` study on eth-tester that trains two rounds, has one patient revoke and
retrains to a clean head; and the tampering both attack tests use (a round whose update of the
revoking patient's hospital commits to a root no published proof answers for)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from api.embedded import EmbeddedStudy
from chain.audit import LedgerView
from consent.events import ConsentRevoked
from consent.formats.revocation import RevocationMode, RevocationPolicy
from consent.ids import Address
from consent.keys import PatientKey
from consent.smt import DataTree
from fl.models import ModelSpec
from fl.roles import StudyPlan
from fl.train import LocalTrainingConfig
from tests.unit.api.test_embedded_consent import records

__all__ = ["REVOKING", "round_without_proof", "unlearn_plan", "unlearned_study"]

REVOKING = "h0-r3"
"""The record whose patient revokes after round 1."""


def unlearn_plan(shards: int = 1) -> StudyPlan:
    """A linear model's plan in mode `unlearn` (window of one round), with `shards` SISA shards."""
    return StudyPlan(
        model=ModelSpec.linear(3, "classification"),
        training=LocalTrainingConfig(epochs=1, batch_size=16, lr=0.1),
        revocation=RevocationPolicy(
            mode=RevocationMode.UNLEARN, window_rounds=1, window_seconds=3600.0, shards=shards
        ),
    )


@contextmanager
def unlearned_study(
    tmp: Path, plan: StudyPlan, rows: int
) -> Iterator[tuple[EmbeddedStudy, PatientKey, Path]]:
    """Two hospitals of `rows` records train 2 rounds; `REVOKING`'s patient revokes and the
    study retrains to a clean head; the trainers' exclusion proofs are written to `tmp/proofs`.
    Yields the study (closed after), the revoking patient's key and the proofs directory."""
    study = EmbeddedStudy.create(tmp, hospitals=2, plan=plan, rounds=2)
    try:
        enrolments = [study.enroll(k, records(k, rows)) for k in range(2)]
        study.run_round()
        study.run_round()
        revoked = enrolments[0].keys[REVOKING]
        study.revoke(revoked)
        while not study.aggregator.done():
            study.run_round()
        proofs = tmp / "proofs"
        study.write_exclusion_proofs(proofs)
        yield study, revoked, proofs
    finally:
        study.close()


def round_without_proof(view: LedgerView, round_: int) -> LedgerView:
    """`view` with `round_`'s update of the revoking patient's hospital committing to another
    root (its patients differ from the earlier round's, whose root the published proof covers)."""
    hospital = next(e.hospital for e in view.consent_events if isinstance(e, ConsentRevoked))
    other = DataTree.build([Address("0x" + "77" * 20)]).root
    tampered = view.rounds[round_]
    updates = tuple(
        dataclasses.replace(u, data_root=other) if u.hospital == hospital else u
        for u in tampered.updates
    )
    rounds = (
        *view.rounds[:round_],
        dataclasses.replace(tampered, updates=updates),
        *view.rounds[round_ + 1 :],
    )
    return dataclasses.replace(view, rounds=rounds)
