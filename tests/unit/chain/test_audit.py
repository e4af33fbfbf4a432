"""The audit verifier on the eth-tester ledger and the local store: honest history and tampering."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from chain.audit import CHECKS, AuditCheck, AuditReport, AuditVerifier
from chain.audit.contributions import Judgement
from chain.audit.registry import DEFAULT_CHECKS
from chain.errors import UnknownStudyError
from chain.exclusions import ExclusionProofs
from chain.store import LocalStore
from consent.ids import Bytes32, study_id
from consent.records import RoundRecord, RoundResult, UpdateSubmission
from tests.fixtures.ledger import LedgerWorld, sender_of
from tests.unit.chain.audit_history import build_history


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "store")


@pytest.fixture
def proofs_dir(tmp_path: Path) -> Path:
    return tmp_path / "proofs"


def _verify(world: LedgerWorld, store: LocalStore, proofs_dir: Path) -> AuditReport:
    proofs = ExclusionProofs.load(proofs_dir) if proofs_dir.exists() else ExclusionProofs()
    return AuditVerifier(world.coordinator, store, proofs).verify(world.study)


def _sha(data: bytes) -> Bytes32:
    return Bytes32(hashlib.sha256(data).digest())


def _exclusion_and_file_failures(report: AuditReport, proof_file: Path) -> tuple[AuditCheck, str]:
    """A bad proof file fails twice, by name: the `exclusion` it should have given, and the
    `proof-files` check of the file itself (every file is checked on its own)."""
    assert not report.passed
    assert sorted(f.check for f in report.failures) == ["exclusion", "proof-files"], report.failures
    (exclusion,) = [f for f in report.failures if f.check == "exclusion"]
    (own,) = [f for f in report.failures if f.check == "proof-files"]
    assert own.subject == str(proof_file)
    return exclusion, own.detail


def _only_failure(report: AuditReport) -> AuditCheck:
    assert not report.passed
    assert len(report.failures) == 1, report.failures
    return report.failures[0]


def test_honest_history_passes_every_kind_of_check(
    eth_tester_ledger: LedgerWorld, store: LocalStore, proofs_dir: Path
) -> None:
    history = build_history(eth_tester_ledger, store, proofs_dir)

    report = _verify(eth_tester_ledger, store, proofs_dir)

    assert report.passed, report.failures
    assert report.rounds == 2
    # `combine` recomputes sum-combining learners' models; this history's learner is sgd-delta;
    # `secagg` says once that the history is sealed (nothing to recompute);
    # the study declared no admission thresholds: no dataset checks (test_dataset_audit)
    dataset_checks = {"dataset-card", "dataset-threshold"}
    assert {c.check for c in report.checks} == set(CHECKS) - {"combine"} - dataset_checks
    exclusions = [c for c in report.checks if c.check == "exclusion"]
    assert [(c.round, c.hospital) for c in exclusions] == [
        (1, sender_of(eth_tester_ledger.hospitals[0]))
    ]
    assert history.revoked in exclusions[0].subject
    body = report.to_json()
    assert body["passed"] is True
    assert len(body["checks"]) == len(report.checks)
    json.dumps(body)


def test_flipped_byte_in_a_stored_update_fails_the_artifact_check_naming_it(
    eth_tester_ledger: LedgerWorld, store: LocalStore, proofs_dir: Path
) -> None:
    history = build_history(eth_tester_ledger, store, proofs_dir)
    cid = history.update_cids[1][0]
    (block,) = store.block_paths(cid)
    data = bytearray(block.read_bytes())
    data[3] ^= 0x01
    block.write_bytes(bytes(data))

    failure = _only_failure(_verify(eth_tester_ledger, store, proofs_dir))

    assert failure.check == "artifact"
    assert failure.round == 1
    assert failure.hospital == sender_of(eth_tester_ledger.hospitals[0])
    assert cid in failure.subject
    assert "do not match" in failure.detail


def test_artifact_deleted_from_the_store_fails_naming_the_round_and_model(
    eth_tester_ledger: LedgerWorld, store: LocalStore, proofs_dir: Path
) -> None:
    history = build_history(eth_tester_ledger, store, proofs_dir)
    for path in store.block_paths(history.model_cids[0]):
        path.unlink()

    failure = _only_failure(_verify(eth_tester_ledger, store, proofs_dir))

    assert (failure.check, failure.round, failure.hospital) == ("artifact", 0, None)
    assert failure.subject == f"model {history.model_cids[0]}"
    assert "missing" in failure.detail


def test_forged_data_root_that_still_holds_the_revoked_patient_fails_the_exclusion_check(
    eth_tester_ledger: LedgerWorld, store: LocalStore, proofs_dir: Path
) -> None:
    history = build_history(eth_tester_ledger, store, proofs_dir, forge_root=True)

    report = _verify(eth_tester_ledger, store, proofs_dir)
    failure, file_detail = _exclusion_and_file_failures(report, history.proof_file)

    assert (failure.check, failure.round) == ("exclusion", 1)
    assert failure.hospital == sender_of(eth_tester_ledger.hospitals[0])
    assert "does not verify" in failure.detail
    assert "does not verify" in file_detail


def test_missing_exclusion_proof_fails_naming_the_revoked_patient(
    eth_tester_ledger: LedgerWorld, store: LocalStore, proofs_dir: Path
) -> None:
    history = build_history(eth_tester_ledger, store, proofs_dir, write_proofs=False)

    failure = _only_failure(_verify(eth_tester_ledger, store, proofs_dir))

    assert (failure.check, failure.round) == ("exclusion", 1)
    assert history.revoked in failure.subject
    assert "no non-membership proof" in failure.detail


def test_proof_for_another_patient_does_not_count_as_exclusion(
    eth_tester_ledger: LedgerWorld, store: LocalStore, proofs_dir: Path
) -> None:
    history = build_history(eth_tester_ledger, store, proofs_dir)
    body = json.loads(history.proof_file.read_text())
    body["patient"] = eth_tester_ledger.patient(5)
    history.proof_file.write_text(json.dumps(body))

    report = _verify(eth_tester_ledger, store, proofs_dir)
    failure, file_detail = _exclusion_and_file_failures(report, history.proof_file)

    assert failure.check == "exclusion"
    assert "no non-membership proof" in failure.detail
    assert "does not verify" in file_detail  # the proof is for patient 1's path, not 5's


def test_malformed_proof_file_is_reported_not_ignored(
    eth_tester_ledger: LedgerWorld, store: LocalStore, proofs_dir: Path
) -> None:
    history = build_history(eth_tester_ledger, store, proofs_dir)
    body = json.loads(history.proof_file.read_text())
    body["proof"] = {"left": {"index": "zero"}, "right": {}}
    history.proof_file.write_text(json.dumps(body))

    report = _verify(eth_tester_ledger, store, proofs_dir)
    failure, file_detail = _exclusion_and_file_failures(report, history.proof_file)

    assert failure.check == "exclusion"
    assert "malformed" in failure.detail
    assert "malformed" in file_detail


def test_round_not_built_on_the_previous_model_fails_the_base_model_check(
    eth_tester_ledger: LedgerWorld, store: LocalStore, proofs_dir: Path
) -> None:
    build_history(eth_tester_ledger, store, proofs_dir, wrong_base=True)

    failure = _only_failure(_verify(eth_tester_ledger, store, proofs_dir))

    assert (failure.check, failure.round) == ("base-model", 1)


def test_update_on_chain_missing_from_the_metrics_fails_the_aggregation_check_naming_it(
    eth_tester_ledger: LedgerWorld, store: LocalStore, proofs_dir: Path
) -> None:
    history = build_history(eth_tester_ledger, store, proofs_dir, unlisted_update=True)

    failure = _only_failure(_verify(eth_tester_ledger, store, proofs_dir))

    assert (failure.check, failure.round) == ("aggregation", 1)
    assert failure.subject == f"metrics {history.metrics_cids[1]}"
    assert "neither aggregated nor rejected" in failure.detail
    assert sender_of(eth_tester_ledger.hospitals[1]).lower() in failure.detail


def test_decisions_keeping_an_update_the_lists_reject_fail_the_aggregation_check(
    eth_tester_ledger: LedgerWorld, store: LocalStore, proofs_dir: Path
) -> None:
    build_history(eth_tester_ledger, store, proofs_dir, decisions="kept-rejected")

    report = _verify(eth_tester_ledger, store, proofs_dir)

    (failure,) = report.failures
    assert (failure.check, failure.round) == ("aggregation", 1)
    assert "decisions keep" in failure.detail
    assert sender_of(eth_tester_ledger.hospitals[1]).lower() in failure.detail


def test_kept_weights_that_are_not_a_distribution_fail_the_aggregation_check(
    eth_tester_ledger: LedgerWorld, store: LocalStore, proofs_dir: Path
) -> None:
    build_history(eth_tester_ledger, store, proofs_dir, decisions="bad-weights")

    report = _verify(eth_tester_ledger, store, proofs_dir)

    (failure,) = report.failures
    assert (failure.check, failure.round) == ("aggregation", 1)
    assert "not a distribution" in failure.detail


def test_version_1_metrics_without_decisions_still_pass_the_aggregation_check(
    eth_tester_ledger: LedgerWorld, store: LocalStore, proofs_dir: Path
) -> None:
    build_history(eth_tester_ledger, store, proofs_dir, decisions="v1")

    report = _verify(eth_tester_ledger, store, proofs_dir)

    assert report.passed, report.failures
    assert any(c.check == "aggregation" and c.round == 1 and c.passed for c in report.checks)


def test_metrics_artifact_in_another_format_fails_the_aggregation_check(
    eth_tester_ledger: LedgerWorld, store: LocalStore, proofs_dir: Path
) -> None:
    world = eth_tester_ledger
    rounds = world.aggregator.rounds
    base, update, model = b"base", b"update", b"model"
    rounds.open_round(world.study, 0, _sha(base), store.put(base))
    world.grant(0)
    world.hospitals[0].rounds.submit_update(
        world.study, 0, UpdateSubmission(
            update_hash=_sha(update), update_cid=store.put(update), num_samples=1,
            num_patients=1, data_root=Bytes32(b"\x03" * 32),
            consent_block=world.chain.block_number(),
        ),
    )  # fmt: skip
    rounds.finalize_round(
        world.study, 0, RoundResult(
            model_hash=_sha(model), model_cid=store.put(model),
            metrics_cid=store.put(b'{"round": 0}'), considered_updates=1,
        ),
    )  # fmt: skip

    report = _verify(world, store, proofs_dir)

    failure, unrecorded = report.failures  # this aggregator recorded no contributions either
    assert (failure.check, failure.round) == ("aggregation", 0)
    assert "is not consentfl.round-metrics" in failure.detail
    assert (unrecorded.check, unrecorded.round) == ("contributions", 0)
    assert "never recorded" in unrecorded.detail


def test_unknown_study_raises_unknown_study_error(
    eth_tester_ledger: LedgerWorld, store: LocalStore
) -> None:
    verifier = AuditVerifier(eth_tester_ledger.coordinator, store)

    with pytest.raises(UnknownStudyError):
        verifier.verify(study_id("no such study"))


def test_study_without_rounds_passes_with_no_checks(
    eth_tester_ledger: LedgerWorld, store: LocalStore
) -> None:
    report = AuditVerifier(eth_tester_ledger.coordinator, store).verify(eth_tester_ledger.study)

    assert report.passed
    assert (report.rounds, report.checks) == (0, ())


@pytest.mark.parametrize(
    ("how", "caught"),
    [
        ("inflated", "on chain, 1250000000000000000 in the metrics"),
        ("digest", "not the ones recorded on chain"),
        ("missing", "never recorded on chain"),
    ],
)
def test_contributions_on_chain_that_are_not_the_metrics_fail_the_contributions_check(
    eth_tester_ledger: LedgerWorld, store: LocalStore, proofs_dir: Path, how: str, caught: str
) -> None:
    build_history(eth_tester_ledger, store, proofs_dir, contributions=how)

    report = _verify(eth_tester_ledger, store, proofs_dir)

    failures = report.failures
    assert failures
    assert all(f.check == "contributions" for f in failures), failures
    round_failure = next(f for f in failures if f.round == 1)
    assert caught in round_failure.detail
    if how == "inflated":  # the reward view lies too: the cumulative value is not the rounds' sum
        hospital = sender_of(eth_tester_ledger.hospitals[0])
        assert any(f.hospital == hospital and "sum to" in f.detail for f in failures)


class _Recomputer:
    """Stands in for `fl.roles.recheck` (torch and the seal key live above `chain/`): round 1's
    metrics are not what its updates give."""

    def __init__(self) -> None:
        self.asked: list[int] = []

    def recheck(self, round_: RoundRecord) -> tuple[bool, str]:
        self.asked.append(round_.round)
        return round_.round != 1, "weight 0.5, recomputed 0.000000000"


def test_a_recomputer_s_findings_are_reported_under_the_contributions_check(
    eth_tester_ledger: LedgerWorld, store: LocalStore, proofs_dir: Path
) -> None:
    build_history(eth_tester_ledger, store, proofs_dir)
    recomputer = _Recomputer()
    checks = tuple(Judgement(recomputer) if c.name == Judgement.name else c for c in DEFAULT_CHECKS)

    report = AuditVerifier(
        eth_tester_ledger.coordinator, store, ExclusionProofs.load(proofs_dir), checks=checks
    ).verify(eth_tester_ledger.study)

    assert recomputer.asked == [0, 1]
    (failure,) = report.failures
    assert (failure.check, failure.round) == ("contributions", 1)
    assert "recomputed" in failure.detail
