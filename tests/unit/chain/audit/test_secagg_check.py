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
from chain.transactions import Sender
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


def _current_keys_view(view: LedgerView, world: LedgerWorld) -> LedgerView:
    """The view an audit that read each hospital's CURRENT keys (no key history) would build."""
    record = view.secagg(0)
    assert record is not None
    assert world.coordinator.secagg is not None
    current = {
        e.hospital: world.coordinator.secagg.get_keys(world.study, e.hospital)
        for e in record.roster
    }
    roster = tuple(
        dataclasses.replace(e, mask_key=current[e.hospital].mask_key) for e in record.roster
    )
    stale = dataclasses.replace(record, roster=roster, key_deals=current)
    return dataclasses.replace(view, secagg_rounds={0: stale})


def test_rotating_a_key_after_the_round_leaves_its_audit_unchanged(
    secagg_round: tuple[LedgerView, SecAggHistory, LocalStore],
    eth_tester_ledger: LedgerWorld,
    tmp_path: Path,
) -> None:
    view, history, store = secagg_round
    world = eth_tester_ledger
    gone = world.coordinator.with_sender(Sender.unlocked(world.chain, history.dropped_before))
    assert gone.secagg is not None
    gone.secagg.register_keys(world.study, Bytes32(b"\x21" * 32), Bytes32(b"\x22" * 32))
    gone.secagg.deal_key(world.study, Bytes32(b"\x23" * 32), "bafkreirotated")
    proofs = ExclusionProofs.load(tmp_path / "proofs")
    after = LedgerView.read(world.coordinator, store, proofs, world.study)
    assert after.secagg(0) == view.secagg(0)  # the round's transcript: the keys that bound it
    passed, detail, _ = _only(after)
    assert passed, detail
    # an audit of the current keys would now blame the round (the rotation would rewrite it)
    passed, _, _ = _only(_current_keys_view(after, world))
    assert not passed


def test_a_key_rotated_after_submission_cannot_make_the_audit_accept_a_forged_reveal(
    eth_tester_ledger: LedgerWorld, tmp_path: Path
) -> None:
    world = eth_tester_ledger
    store = LocalStore(tmp_path / "store")
    history = build_secagg_round(world, store, rotate_dropped=True)
    (tmp_path / "proofs").mkdir()
    proofs = ExclusionProofs.load(tmp_path / "proofs")
    view = LedgerView.read(world.coordinator, store, proofs, world.study)
    # the lie works against an audit of the current keys: the recomputed sum matches the model
    passed, detail, _ = _only(_current_keys_view(view, world))
    assert passed, detail
    # the round's own keys name the revealer whose share is not of the deal that bound round 0
    passed, detail, hospital = _only(view)
    assert not passed
    assert hospital in history.revealed
    assert "never dealt" in detail
