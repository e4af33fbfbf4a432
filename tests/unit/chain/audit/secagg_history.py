"""A real secagg round on eth-tester and the local store, driven step by step as the roles
would: 4 hospitals, threshold 2; one drops before submitting, one after submitting (no reveal).

With `rotate_dropped=True` the round is an attack: once submissions close, the dropped hospital
registers and deals a new key epoch, the revealers reveal shares of that NEW deal, and the
aggregator finalizes the model recomputed with the new keys, a transcript consistent with the
hospitals' current keys but not with the keys that bound the round."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from chain.deploy import Ledger
from chain.secagg_coordinator import SecAggCoordinator
from chain.store import LocalStore
from chain.transactions import Sender
from consent.formats.key_deal import encode_key_deal
from consent.formats.masked_update import decode_masked_update, encode_masked_update
from consent.formats.secagg_reveal import encode_reveal
from consent.ids import Address, Bytes32
from consent.records import RoundResult, UpdateSubmission
from consent.sealing import public_key_bytes
from consent.secagg import (
    RingParams,
    RosterEntry,
    RoundContext,
    StudyContext,
    deal_mask_key,
    dequantize_mean,
    quantize,
    recover_sum,
    reveal,
    submit,
)
from consent.secagg.model import apply_mean, flatten, model_bytes
from tests.fixtures.ledger import DEADLINE, LedgerWorld, sender_of

PARAMS = RingParams()
THRESHOLD = 2


@dataclass(frozen=True)
class SecAggHistory:
    expected_mean: np.ndarray
    recovered_mean: np.ndarray
    submitted: tuple[Address, ...]
    revealed: tuple[Address, ...]
    dropped_before: Address
    masked_cids: dict[Address, str]


def _coordinator(ledger: Ledger) -> SecAggCoordinator:
    assert ledger.secagg is not None
    return ledger.secagg


def _put(store: LocalStore, data: bytes) -> tuple[Bytes32, str]:
    return Bytes32(hashlib.sha256(data).digest()), store.put(data)


def build_secagg_round(
    world: LedgerWorld, store: LocalStore, *, rotate_dropped: bool = False
) -> SecAggHistory:
    accounts = world.chain.w3.eth.accounts
    extra = []
    for i in (5, 6):
        ledger = world.coordinator.with_sender(Sender.unlocked(world.chain, accounts[i]))
        world.coordinator.studies.add_hospital(world.study, sender_of(ledger))
        extra.append(ledger)
    hospitals = [*world.hospitals, *extra]
    mask = {sender_of(h): X25519PrivateKey.generate() for h in hospitals}
    seal = {sender_of(h): X25519PrivateKey.generate() for h in hospitals}
    _coordinator(world.aggregator).configure(world.study, THRESHOLD, 0)
    for h in hospitals:
        me = sender_of(h)
        _coordinator(h).register_keys(
            world.study, Bytes32(public_key_bytes(mask[me])), Bytes32(public_key_bytes(seal[me]))
        )
    everyone = [
        RosterEntry(
            sender_of(h),
            Bytes32(public_key_bytes(mask[sender_of(h)])),
            Bytes32(public_key_bytes(seal[sender_of(h)])),
        )
        for h in hospitals
    ]
    for h in hospitals:
        me = sender_of(h)
        dealt = deal_mask_key(
            StudyContext(world.study),
            owner=me,
            mask_key=mask[me],
            roster=everyone,
            threshold=THRESHOLD,
        )
        _coordinator(h).deal_key(world.study, *_put(store, encode_key_deal(dealt)))
    rng = np.random.default_rng(7)
    base = {
        "b": rng.normal(size=4).astype(np.float32),
        "w": rng.normal(size=(3, 4)).astype(np.float32),
    }
    base_hash, base_cid = _put(store, model_bytes(base))
    world.aggregator.rounds.open_round(world.study, 0, base_hash, base_cid)
    members = _coordinator(world.aggregator).roster(world.study, 0)
    roster = [entry for entry in everyone if entry.hospital in members]
    context = RoundContext(world.study, 0)
    submitters, dropped_before = hospitals[:3], sender_of(hospitals[3])
    deltas, weights, masked_cids = {}, {}, {}
    for n, h in enumerate(submitters, start=1):
        me = sender_of(h)
        for patient in range(2 * (n - 1), 2 * (n - 1) + min(n, 2)):  # n (at most 2) patients
            signature = world.consent_sig(patient, h)
            h.consents.grant(world.study, world.patient(patient), 0, DEADLINE, signature)
        deltas[me] = {k: rng.normal(0, 0.1, v.shape).astype(np.float32) for k, v in base.items()}
        weights[me] = min(n, 2)  # the aggregation weight is the on-chain patient count
        masked = submit(
            context,
            owner=me,
            mask_key=mask[me],
            roster=roster,
            threshold=THRESHOLD,
            encoded=quantize(flatten(deltas[me]), weights[me], PARAMS),
            weight=weights[me],
        )
        digest, cid = _put(store, encode_masked_update(masked))
        masked_cids[me] = cid
        h.rounds.submit_update(
            world.study,
            0,
            UpdateSubmission(
                update_hash=digest,
                update_cid=cid,
                num_samples=10 * n,
                num_patients=weights[me],
                data_root=Bytes32(b"\x03" * 32),
                consent_block=world.chain.block_number(),
            ),
        )
    _coordinator(world.aggregator).close_submissions(world.study, 0, len(hospitals))
    updates = [
        decode_masked_update(store.get(u.update_cid), hospital=u.hospital)
        for u in world.aggregator.rounds.get_updates(world.study, 0)
    ]
    from consent.formats.key_deal import decode_key_deal

    if rotate_dropped:
        roster = _rotate(world, store, hospitals[3], roster, everyone)
    gone_keys = _coordinator(world.aggregator).get_keys(world.study, dropped_before)
    gone_deal = decode_key_deal(store.get(gone_keys.deal_cid))
    revealers = submitters[:2]  # the third submitted, then was killed before revealing
    reveals = []
    for h in revealers:
        me = sender_of(h)
        published = reveal(
            context, holder=me, seal_key=seal[me], survivors=updates, dropped=[gone_deal]
        )
        reveals.append(published)
        _coordinator(h).reveal(world.study, 0, *_put(store, encode_reveal(published)))
    result = recover_sum(
        context,
        roster=roster,
        key_deals={dropped_before: gone_deal},
        updates=updates,
        reveals=reveals,
    )
    mean = dequantize_mean(result.total, result.weight_sum, PARAMS)
    model = apply_mean(base, mean)
    model_hash, model_cid = _put(store, model_bytes(model))
    world.aggregator.rounds.finalize_round(
        world.study,
        0,
        RoundResult(
            model_hash=model_hash, model_cid=model_cid, metrics_cid="", considered_updates=3
        ),
    )
    total = sum(weights.values())
    expected = sum(weights[a] * flatten(deltas[a]).astype(np.float64) for a in deltas) / total
    return SecAggHistory(
        expected_mean=expected,
        recovered_mean=mean,
        submitted=tuple(sender_of(h) for h in submitters),
        revealed=tuple(sender_of(h) for h in revealers),
        dropped_before=dropped_before,
        masked_cids=masked_cids,
    )


def _rotate(
    world: LedgerWorld,
    store: LocalStore,
    hospital: Ledger,
    roster: list[RosterEntry],
    everyone: list[RosterEntry],
) -> list[RosterEntry]:
    """`hospital` registers and deals a new key epoch; the roster as its current keys show it."""
    me = sender_of(hospital)
    mask, seal = X25519PrivateKey.generate(), X25519PrivateKey.generate()
    entry = RosterEntry(me, Bytes32(public_key_bytes(mask)), Bytes32(public_key_bytes(seal)))
    _coordinator(hospital).register_keys(world.study, entry.mask_key, entry.seal_key)
    peers = [e if e.hospital != me else entry for e in everyone]
    dealt = deal_mask_key(
        StudyContext(world.study, 1), owner=me, mask_key=mask, roster=peers, threshold=THRESHOLD
    )
    _coordinator(hospital).deal_key(world.study, *_put(store, encode_key_deal(dealt)))
    return [e if e.hospital != me else entry for e in roster]
