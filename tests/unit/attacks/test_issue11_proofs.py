"""Issue 11, H12's proof half: a published proof file that was edited or does not verify was
silently ignored when another file covered the same root, and proofs were loaded into a dict,
so a later file with the same key shadowed an earlier one. Now every file is checked on its own
(`proof-files`): each exploit below is a named audit failure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chain.audit import AuditReport, AuditVerifier
from chain.exclusions import ExclusionProofs
from chain.store import LocalStore
from tests.fixtures.ledger import LedgerWorld
from tests.unit.chain.audit_history import StudyHistory, build_history


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "store")


def _audit(world: LedgerWorld, store: LocalStore, proofs_dir: Path) -> AuditReport:
    return AuditVerifier(world.coordinator, store, ExclusionProofs.load(proofs_dir)).verify(
        world.study
    )


def _honest(world: LedgerWorld, store: LocalStore, tmp_path: Path) -> tuple[Path, StudyHistory]:
    proofs_dir = tmp_path / "proofs"
    history = build_history(world, store, proofs_dir)
    assert _audit(world, store, proofs_dir).passed
    return proofs_dir, history


def _copy(history: StudyHistory, name: str, **changes: object) -> Path:
    body = json.loads(history.proof_file.read_text())
    body.update(changes)
    path = history.proof_file.with_name(name)
    path.write_text(json.dumps(body))
    return path


def _proof_failures(report: AuditReport) -> list[tuple[str, str]]:
    return [(c.subject, c.detail) for c in report.failures if c.check == "proof-files"]


def test_h12_edited_data_root_beside_an_honest_file_fails_naming_the_file(
    eth_tester_ledger: LedgerWorld, store: LocalStore, tmp_path: Path
) -> None:
    proofs_dir, history = _honest(eth_tester_ledger, store, tmp_path)
    edited = _copy(history, "edited.json", data_root="0x" + "ee" * 32)

    failures = _proof_failures(_audit(eth_tester_ledger, store, proofs_dir))

    assert failures == [(str(edited), failures[0][1])]
    assert "is no data root of this hospital on chain" in failures[0][1]


def test_h12_proof_that_does_not_verify_beside_an_honest_file_fails(
    eth_tester_ledger: LedgerWorld, store: LocalStore, tmp_path: Path
) -> None:
    proofs_dir, history = _honest(eth_tester_ledger, store, tmp_path)
    body = json.loads(history.proof_file.read_text())
    proof = dict(body["proof"], depth=body["proof"]["depth"] + 1)
    broken = _copy(history, "zz-broken.json", proof=proof)

    report = _audit(eth_tester_ledger, store, proofs_dir)

    assert not report.passed
    assert sorted(s for s, _ in _proof_failures(report)) == sorted(
        [str(broken), str(history.proof_file)]
    )
    details = dict(_proof_failures(report))
    assert "does not verify" in details[str(broken)] or "malformed" in details[str(broken)]
    assert "different proof for the same root and patient" in details[str(history.proof_file)]


def test_h12_a_file_naming_another_round_than_its_root_fails(
    eth_tester_ledger: LedgerWorld, store: LocalStore, tmp_path: Path
) -> None:
    proofs_dir, history = _honest(eth_tester_ledger, store, tmp_path)
    history.proof_file.write_text(
        json.dumps(dict(json.loads(history.proof_file.read_text()), round=0))
    )

    failures = _proof_failures(_audit(eth_tester_ledger, store, proofs_dir))

    assert len(failures) == 1
    assert "is not the hospital's root in round 0" in failures[0][1]


def test_the_same_proof_published_twice_with_other_metadata_is_not_a_failure(
    eth_tester_ledger: LedgerWorld, store: LocalStore, tmp_path: Path
) -> None:
    proofs_dir, history = _honest(eth_tester_ledger, store, tmp_path)
    body = json.loads(history.proof_file.read_text())
    # as a trainer writes it for a later round whose root is unchanged: other metadata, same proof
    _copy(history, "copy.json", consent_block=body["consent_block"] + 1)

    report = _audit(eth_tester_ledger, store, proofs_dir)

    assert report.passed
    assert len([c for c in report.checks if c.check == "proof-files"]) == 2
