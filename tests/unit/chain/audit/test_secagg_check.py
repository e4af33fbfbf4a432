"""The `secagg` audit check over a real round (eth-tester + local store, real crypto), then over
views a lying node or party altered: each lie is named and attributed."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import pytest

from chain.audit import LedgerView
from chain.audit.secagg import SecAggSum
from chain.exclusions import ExclusionProofs
from chain.store import LocalStore
from consent.formats.secagg_reveal import decode_reveal, encode_reveal
from consent.ids import Bytes32
from consent.secagg.ring import RingParams
from tests.fixtures.ledger import LedgerWorld
from tests.unit.chain.audit.secagg_history import SecAggHistory, build_secagg_round


@pytest.fixture
def secagg_round(
    eth_tester_ledger: LedgerWorld, tmp_path: Path
) -> tuple[LedgerView, SecAggHistory, LocalStore]:
    store = LocalStore(tmp_path / "store")
    history = build_secagg_round(eth_tester_ledger, store)
    (tmp_path / "proofs").mkdir()
    proofs = ExclusionProofs.load(tmp_path / "proofs")
    view = LedgerView.read(eth_tester_ledger.coordinator, store, proofs, eth_tester_ledger.study)
    return view, history, store


def _only(view: LedgerView) -> tuple[bool, str, object]:
    (check,) = SecAggSum().run(view)
    return check.passed, check.detail, check.hospital


def test_round_with_both_dropouts_recovers_the_survivors_fedavg_and_the_audit_recomputes_it(
    secagg_round: tuple[LedgerView, SecAggHistory, LocalStore],
) -> None:
    view, history, _ = secagg_round
    assert np.all(
        np.abs(history.recovered_mean - history.expected_mean) <= RingParams().max_error + 1e-7
    )
    record = view.secagg(0)
    assert record is not None
    assert record.phase.submitted_at_close == 3
    assert {e.hospital for e in record.roster} == {*history.submitted, history.dropped_before}
    passed, detail, _ = _only(view)
    assert passed, detail
    assert "1 dropped" in detail


def test_a_masked_update_swapped_in_the_store_is_named(
    secagg_round: tuple[LedgerView, SecAggHistory, LocalStore],
) -> None:
    view, history, _ = secagg_round
    victim, other = history.submitted[0], history.submitted[1]
    updates = tuple(
        dataclasses.replace(u, update_cid=history.masked_cids[other]) if u.hospital == victim else u
        for u in view.rounds[0].updates
    )
    lying = dataclasses.replace(
        view, rounds=(dataclasses.replace(view.rounds[0], updates=updates),)
    )
    passed, detail, hospital = _only(lying)
    assert not passed
    assert hospital == victim
    assert "on-chain hash" in detail


def test_a_hospital_that_submits_anothers_masked_update_is_named(
    secagg_round: tuple[LedgerView, SecAggHistory, LocalStore],
) -> None:
    view, history, _ = secagg_round
    copier, original = history.submitted[0], history.submitted[1]
    source = next(u for u in view.rounds[0].updates if u.hospital == original)
    updates = tuple(
        dataclasses.replace(u, update_cid=source.update_cid, update_hash=source.update_hash)
        if u.hospital == copier
        else u
        for u in view.rounds[0].updates
    )
    lying = dataclasses.replace(
        view, rounds=(dataclasses.replace(view.rounds[0], updates=updates),)
    )
    passed, detail, hospital = _only(lying)
    assert not passed
    assert hospital == copier
    assert "header names" in detail


def test_a_forged_reveal_is_named_and_attributed_to_its_publisher(
    secagg_round: tuple[LedgerView, SecAggHistory, LocalStore],
) -> None:
    view, _, store = secagg_round
    record = view.secagg(0)
    assert record is not None
    liar = record.reveals[1]
    published = decode_reveal(store.get(liar.reveal_cid))
    forged = dataclasses.replace(
        published, shares=tuple(dataclasses.replace(s, value=bytes(32)) for s in published.shares)
    )
    data = encode_reveal(forged)
    forged_entry = dataclasses.replace(
        liar, reveal_cid=store.put(data), reveal_hash=Bytes32(hashlib.sha256(data).digest())
    )
    lying_record = dataclasses.replace(record, reveals=(record.reveals[0], forged_entry))
    lying = dataclasses.replace(view, secagg_rounds={0: lying_record})
    passed, detail, hospital = _only(lying)
    assert not passed
    assert hospital == liar.hospital
    assert "never dealt" in detail


def test_a_wrong_model_is_named(secagg_round: tuple[LedgerView, SecAggHistory, LocalStore]) -> None:
    view, _, _ = secagg_round
    wrong = dataclasses.replace(view.rounds[0], model_hash=Bytes32(b"\x09" * 32))
    passed, detail, hospital = _only(dataclasses.replace(view, rounds=(wrong,)))
    assert not passed
    assert hospital is None
    assert "not base + the recomputed mean" in detail


def test_an_abort_above_threshold_is_named(
    secagg_round: tuple[LedgerView, SecAggHistory, LocalStore],
) -> None:
    view, _, _ = secagg_round
    record = view.secagg(0)
    assert record is not None
    aborted = dataclasses.replace(
        record, phase=dataclasses.replace(record.phase, aborted_block=1, abort_reason="bogus")
    )
    passed, detail, _ = _only(dataclasses.replace(view, secagg_rounds={0: aborted}))
    assert not passed
    assert "threshold 2" in detail


def test_a_study_threshold_other_than_the_dealt_one_is_named(
    secagg_round: tuple[LedgerView, SecAggHistory, LocalStore],
) -> None:
    view, history, _ = secagg_round
    record = view.secagg(0)
    assert record is not None
    stricter = dataclasses.replace(record, threshold=3)  # the deals were made 2-of-n
    passed, detail, hospital = _only(dataclasses.replace(view, secagg_rounds={0: stricter}))
    assert not passed
    assert hospital == history.submitted[0]
    assert "dealt 2-of-n" in detail
