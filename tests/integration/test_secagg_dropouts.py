"""Privacy mode "secagg" across OS processes over anvil and the js-ipfs node: the aggregator and
four trainers, each its own `consentfl` process, threshold t = 2.

- Round 0: hospital A is SIGKILLed after dealing its key, before it submits; hospital B is
  SIGKILLed after its masked update is on chain, before the close (so before it can reveal). The
  round finalizes on the other two reveals with the exact aggregate of the three survivors
  (B's update included: its self seed is rebuilt from the others' shares; A's pairwise masks are
  removed with its rebuilt mask key). The model equals base + the FedAvg of the three deltas,
  replayed here from each survivor's committed rows, within the stated quantization error.
- Round 1: B (dead) is on the roster; C and D submit, then D is SIGKILLed before revealing: one
  reveal, below t, so after the reveal wait the round aborts on chain with the named reason
  "too-few-reveals", keeps its base model, and the next round opens.
- Round 2: D restarts from its state directory and rejoins; the round finalizes.
The audit recomputes every round bit for bit (`secagg` check) and every other check passes.

The round timeout (15 s) is wall clock in the aggregator; so that no close or abort in this test
depends on how fast a loaded machine trains, the aggregator is paused (SIGSTOP) while the test
waits for what must be on chain first (round 0's three survivors' updates; round 1's two updates
and D's kill; round 1's one reveal) and resumed (SIGCONT) after: its timeout has then passed or
passes with nothing left to arrive, and each close and abort counts exactly what the test says.
"""

from __future__ import annotations

import hashlib
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from eth_account import Account

from chain.audit import AuditVerifier
from chain.exclusions import ExclusionProofs
from chain.round_ledger import RoundState
from chain.store import IpfsStore
from consent.formats.round_metrics import RoundMetrics
from consent.ids import Address, Bytes32, parse_address, parse_bytes32
from consent.secagg.model import flatten, load_tensors
from fl.roles import StudyPlan
from fl.roles.records import load_usages
from fl.roles.replay import local_payload
from fl.roles.study_data import load_hospital_data
from fl.serialize import bytes_to_state_dict
from fl.split import split_dataset, write_split
from tests.integration.test_multiprocess_study import STUDY, Study, _cli

pytestmark = pytest.mark.integration

ROUNDS = 3
NAMES = ("a", "b", "c", "d")


def _replayed_mean(
    s: Study,
    hospitals: dict[str, Address],
    plan: StudyPlan,
    base_bytes: bytes,
    survivors: list[Address],
) -> np.ndarray:
    """The plaintext FedAvg of round 0's survivors' deltas, replayed from the rows each
    committed (its state directory's round record), as `consentfl audit replay` does."""
    by_address = {hospitals[n]: n for n in NAMES}
    base = bytes_to_state_dict(base_bytes, expected=plan.initial_state())
    total = np.zeros_like(flatten(load_tensors(base_bytes)), dtype=np.float64)
    weight = 0
    for hospital in survivors:
        name = by_address[hospital]
        usage = load_usages(s.tmp / f"{name}-state")[0]
        data = load_hospital_data(s.tmp / f"{name}.csv", plan)
        used = set(usage.patients)
        rows = data.select(data.patient_mask(used))
        local = local_payload(plan, base, rows, study=s.study, round_=0, hospital=hospital)
        delta = flatten({k: v.numpy() for k, v in local.result.delta.items()})
        total += len(used) * delta.astype(np.float64)
        weight += len(used)
    return total / weight


@contextmanager
def _paused(s: Study, name: str) -> Iterator[None]:
    """`name`'s process stopped (SIGSTOP) for the block, then continued (SIGCONT)."""
    pid = s.procs[name].pid
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


@pytest.mark.timeout(600)  # five processes start at once, slow under load
def test_secagg_round_survives_dropouts_aborts_below_threshold_and_the_next_round_runs(
    tmp_path: Path, anvil: str, ipfs_node: str
) -> None:
    s = Study(tmp_path, anvil, ipfs_node)
    write_split(split_dataset("breast-cancer", 5, non_iid=False, seed=0), tmp_path / "split")
    keys = {name: s.funded_key(name) for name in ("aggregator", *NAMES)}
    hospitals = {
        n: parse_address(Account.from_key(keys[n].read_text().strip()).address) for n in NAMES
    }
    init = _cli("aggregator", "init", "--seal-key-out", str(tmp_path / "seal.key"),
                "--data", str(tmp_path / "split" / "test.csv"), "--ipfs", ipfs_node,
                "--epochs", "1", "--round-timeout", "15", "--privacy-mode", "secagg",
                "--threshold", "2")  # fmt: skip
    s.coordinator.studies.create_study(
        s.study,
        aggregator=parse_address(Account.from_key(keys["aggregator"].read_text().strip()).address),
        aggregator_seal_key=Bytes32(parse_bytes32(str(init["seal_public_key"]))),
        min_updates=2,
        metadata_cid=str(init["metadata_cid"]),
    )
    plan = StudyPlan.from_json_bytes(IpfsStore(ipfs_node).get(str(init["metadata_cid"])))
    for address in hospitals.values():
        s.coordinator.studies.add_hospital(s.study, address)
    for k, name in enumerate(NAMES, start=1):
        _cli("patients", "enroll", "--deployment", str(s.deployment), "--study", STUDY,
             "--key", str(keys[name]), "--data", str(tmp_path / "split" / f"hospital-{k}.csv"),
             "--out", str(tmp_path / f"{name}.csv"), "--keys-out", str(tmp_path / f"{name}.keys"),
             "--rpc", anvil)  # fmt: skip
    secagg = s.coordinator.secagg
    assert secagg is not None

    def trainer(name: str, poll: str = "0.2") -> None:
        s.start(name, "trainer", "--deployment", str(s.deployment), "--study", STUDY,
                "--key", str(keys[name]), "--data", str(tmp_path / f"{name}.csv"),
                "--ipfs", ipfs_node, "--state-dir", str(tmp_path / f"{name}-state"),
                "--rounds", str(ROUNDS), "--poll", poll, "--require-mode", "secagg",
                "--proofs-dir", str(tmp_path / "proofs"))  # fmt: skip

    try:
        s.start("aggregator", "aggregator", "--deployment", str(s.deployment), "--study", STUDY,
                "--key", str(keys["aggregator"]), "--seal-key", str(tmp_path / "seal.key"),
                "--rounds", str(ROUNDS), "--ipfs", ipfs_node,
                "--test", str(tmp_path / "split" / "test.csv"), "--poll", "0.2")  # fmt: skip
        trainer("a", poll="1.5")  # slow to notice round 0: killed right after its deal
        for name in ("b", "c", "d"):
            trainer(name)
        s.wait_for(  # five processes import torch at once: slow on a loaded 2-core machine
            "A's key deal", lambda: secagg.get_keys(s.study, hospitals["a"]).dealt_block > 0, 300
        )
        s.kill("a")
        s.wait_for("round 0 to open", s.opened(0), 120)
        assert hospitals["a"] in secagg.roster(s.study, 0)
        three = {hospitals[n] for n in ("b", "c", "d")}
        with _paused(s, "aggregator"):  # the close (A never submits) counts B, C and D
            s.wait_for("B's masked update in round 0", lambda: hospitals["b"] in s.submitted(0))
            s.kill("b")
            s.wait_for("C's and D's updates in round 0", lambda: three <= s.submitted(0), 300)
        s.wait_for("round 0 to finalize", lambda: s.round_state(0) == RoundState.FINALIZED, 120)

        s.wait_for("round 1 to open", s.opened(1))
        pair = {hospitals[n] for n in ("c", "d")}
        with _paused(s, "aggregator"):  # D dies before the close, so before it can reveal
            s.wait_for("C and D in round 1", lambda: pair <= s.submitted(1), 300)
            s.kill("d")
        s.wait_for("round 1 to close", lambda: secagg.get_phase(s.study, 1).closed, 120)
        with _paused(s, "aggregator"):  # the reveal wait ends with C's reveal counted
            s.wait_for(
                "C's reveal in round 1",
                lambda: {r.hospital for r in secagg.get_reveals(s.study, 1)} == {hospitals["c"]},
            )
        s.wait_for("round 1 to finalize", lambda: s.round_state(1) == RoundState.FINALIZED, 120)
        s.wait_for("round 2 to open", s.opened(2))
        trainer("d")
        s.wait_for("round 2 to finalize", lambda: s.round_state(2) == RoundState.FINALIZED, 150)
        for name in ("aggregator", "c", "d"):
            assert s.procs[name].wait(timeout=60) == 0, s.tails()
    finally:
        s.stop_all()

    store = IpfsStore(ipfs_node)
    revealed = [{r.hospital for r in secagg.get_reveals(s.study, n)} for n in range(ROUNDS)]
    assert revealed[0] == {hospitals["c"], hospitals["d"]}  # B submitted, then died unrevealed
    assert revealed[1] == {hospitals["c"]}  # D submitted, then died unrevealed
    phase0, phase1 = secagg.get_phase(s.study, 0), secagg.get_phase(s.study, 1)
    assert (phase0.submitted_at_close, phase0.reveal_count, phase0.aborted) == (3, 2, False)
    assert phase1.abort_reason == "too-few-reveals"
    assert (phase1.submitted_at_close, phase1.reveal_count) == (2, 1)
    round0 = s.coordinator.rounds.get_round(s.study, 0)
    round1 = s.coordinator.rounds.get_round(s.study, 1)
    assert round1.model_hash == round1.base_model_hash  # the aborted round kept its base
    metrics0 = RoundMetrics.from_json_bytes(store.get(round0.metrics_cid))
    survivors = [h for h, _ in metrics0.accepted]
    assert set(survivors) == {hospitals[n] for n in ("b", "c", "d")}
    assert hospitals["a"] in metrics0.missing
    assert secagg.roster(s.study, 2) == tuple(sorted(pair))  # A and B burned
    assert s.submitted(2) == pair  # D rejoined after its restart

    # the exact aggregate of the survivors' data: base + their replayed FedAvg
    base_bytes = store.get(round0.base_model_cid)
    model = load_tensors(store.get(round0.model_cid))
    step = flatten(model).astype(np.float64) - flatten(load_tensors(base_bytes)).astype(np.float64)
    expected = _replayed_mean(s, hospitals, plan, base_bytes, survivors)
    assert np.max(np.abs(step - expected)) <= plan.privacy.ring.max_error + 1e-6
    assert hashlib.sha256(store.get(round0.model_cid)).digest() == round0.model_hash

    report = AuditVerifier(s.coordinator, store, ExclusionProofs.load(tmp_path / "proofs")).verify(
        s.study
    )
    failed = [f"{c.check}: {c.detail}" for c in report.checks if not c.passed]
    assert report.passed, failed
    details = [c.detail for c in report.checks if c.check == "secagg"]
    assert "1 dropped" in details[0]
    assert "model matches" in details[0]
    assert details[1].startswith("aborted (too-few-reveals)")
    assert "model matches" in details[2]
