"""A model's lineage follows rollback records; a revocation taints updates computed while the
patient's consent counted (issue 16)."""

from __future__ import annotations

import pytest

from consent.events import ConsentGranted, ConsentRevoked, EventPosition
from consent.ids import Address, Bytes32, parse_address, study_id
from consent.lineage import (
    Revocation,
    RollbackRecord,
    active_shards,
    entering_lineages,
    every_shard,
    first_tainted,
    lineage,
    revocations_of,
    shard_lineages,
    shard_of,
    shards_in,
    taints,
)
from consent.records import RoundRecord
from consent.rounds import RoundState, UpdateRecord

STUDY = study_id("lineage")
H = parse_address("0x" + "b1" * 20)
OTHER = parse_address("0x" + "b2" * 20)
P = parse_address("0x" + "01" * 20)


def rb(round_: int, base: int) -> RollbackRecord:
    return RollbackRecord(round_, base, "unlearn", (P,))


def test_without_rollbacks_the_lineage_is_every_round() -> None:
    assert lineage(3, {}) == (0, 1, 2, 3)
    assert lineage(-1, {}) == ()


def test_a_rollback_drops_its_base_round_and_everything_after_it() -> None:
    assert lineage(5, {3: rb(3, 1)}) == (0, 3, 4, 5)
    assert lineage(3, {3: rb(3, 0)}) == (3,)


def test_a_rollback_onto_a_rollback_rounds_base_follows_both() -> None:
    # round 3 restarts from round 2's base, itself round 0's base (the initial model)
    assert lineage(4, {2: rb(2, 0), 3: rb(3, 2)}) == (3, 4)


def test_a_rollback_whose_base_is_not_before_it_is_refused() -> None:
    with pytest.raises(ValueError, match="base round"):
        lineage(3, {3: rb(3, 3)})


def _update(hospital: Address, consent_block: int) -> UpdateRecord:
    return UpdateRecord(
        hospital,
        Bytes32(b"\x01" * 32),
        "cid",
        1,
        1,
        Bytes32(b"\x02" * 32),
        consent_block,
        consent_block + 1,
    )


def test_a_revocation_taints_updates_of_its_hospital_while_the_consent_counted() -> None:
    revocation = Revocation(P, H, block=50, timestamp=0, granted_block=10)
    assert taints(_update(H, 10), revocation)
    assert taints(_update(H, 49), revocation)
    assert not taints(_update(H, 9), revocation)  # before the grant
    assert not taints(_update(H, 50), revocation)  # the revocation was in the view
    assert not taints(_update(OTHER, 20), revocation)


def test_first_tainted_names_the_first_round_and_every_revocation_served() -> None:
    rounds = [
        RoundRecord(round=r, state=RoundState.FINALIZED, updates=(_update(H, 10 * r + 5),))
        for r in range(4)
    ]
    early = Revocation(P, H, block=30, timestamp=0, granted_block=12)  # taints rounds 1, 2
    late = Revocation(OTHER, H, block=40, timestamp=0, granted_block=30)  # taints round 3
    assert first_tainted(rounds, [late]) == (3, (late,))
    assert first_tainted(rounds, [early, late]) == (1, (early, late))
    assert first_tainted(rounds[:1], [early, late]) is None


def test_revocations_pair_with_the_grant_they_ended() -> None:
    def pos(block: int) -> EventPosition:
        return EventPosition(block, 0)

    events = [
        ConsentGranted(STUDY, P, H, 0, 0, pos(3), "0x", 100),
        ConsentRevoked(STUDY, P, H, pos(7), "0x", 200),
        ConsentGranted(STUDY, P, H, 0, 1, pos(9), "0x", 300),
        ConsentRevoked(STUDY, P, H, pos(12), "0x", 400),
    ]
    assert revocations_of(events) == [
        Revocation(P, H, 7, 200, 3),
        Revocation(P, H, 12, 400, 9),
    ]


def srb(round_: int, base: int, mask: int, shards: int = 3) -> RollbackRecord:
    return RollbackRecord(round_, base, "unlearn", (P,), shards=shards, shard_mask=mask)


def test_with_one_shard_the_shard_lineage_is_the_lineage() -> None:
    cases = [{}, {3: rb(3, 1)}, {3: rb(3, 0)}, {3: rb(3, 1), 6: rb(6, 4)}, {2: rb(2, 0)}]
    for rollbacks in cases:
        for head in range(-1, 8):
            assert shard_lineages(head, rollbacks, 1) == (lineage(head, rollbacks),)


def test_a_shard_rollback_retrains_its_shards_alone_until_they_catch_up() -> None:
    # rounds 0-2 train all 3 shards; round 3 rolls shard 1 back to round 1's base
    rollbacks = {3: srb(3, 1, 0b010)}
    assert shard_lineages(2, rollbacks, 3) == ((0, 1, 2),) * 3
    assert active_shards(3, rollbacks, 3) == (1,)
    assert shard_lineages(3, rollbacks, 3) == ((0, 1, 2), (0, 3), (0, 1, 2))
    assert active_shards(4, rollbacks, 3) == (1,)  # still one round behind
    assert shard_lineages(4, rollbacks, 3) == ((0, 1, 2), (0, 3, 4), (0, 1, 2))
    assert active_shards(5, rollbacks, 3) == (0, 1, 2)  # caught up: all train again
    assert shard_lineages(5, rollbacks, 3) == ((0, 1, 2, 5), (0, 3, 4, 5), (0, 1, 2, 5))


def test_a_shard_rolls_back_to_what_it_entered_the_base_round_with() -> None:
    # round 3 retrains shard 0 from round 0's base; round 5 (shard 0 caught up at 4) rolls
    # shards 0 and 2 back to round 4's base: shard 0 enters round 5 with (3,), shard 2 with
    # (0, 1, 2), and shard 1 keeps (0, 1, 2, 4)
    rollbacks = {3: srb(3, 0, 0b001), 5: srb(5, 4, 0b101)}
    assert shard_lineages(4, rollbacks, 3) == ((3, 4), (0, 1, 2), (0, 1, 2))
    # round 4: shard 0 lags (1 < 3): only it trains; shards 1 and 2 unchanged
    assert shard_lineages(5, rollbacks, 3)[1] == (0, 1, 2)
    assert shard_lineages(5, rollbacks, 3)[0] == (3, 5)
    assert shard_lineages(5, rollbacks, 3)[2] == (0, 1, 2)


def test_a_rollback_whose_shards_do_not_fit_the_plan_is_refused() -> None:
    for bad in (srb(3, 1, 0b1000), srb(3, 1, 0), srb(3, 1, 0b1, shards=4)):
        with pytest.raises(ValueError, match="rollback round 3"):
            shard_lineages(4, {3: bad}, 3)
    with pytest.raises(ValueError, match="base round"):
        shard_lineages(4, {3: srb(3, 3, 0b1)}, 3)


def test_the_shard_rule_is_the_address_hash_modulo_the_shard_count() -> None:
    seen = {shard_of(f"0x{i:040x}", 4) for i in range(64)}
    assert seen == {0, 1, 2, 3}
    assert shard_of(P.upper(), 4) == shard_of(P.lower(), 4)
    assert shard_of(P, 1) == 0
    assert shards_in(0b1011) == (0, 1, 3)
    assert every_shard(3) == 0b111
    with pytest.raises(ValueError, match="shards must be >= 1"):
        shard_of(P, 0)


def test_the_lineages_a_round_is_entered_with_are_what_a_rollback_to_it_restores() -> None:
    rollbacks = {3: srb(3, 1, 0b010)}
    assert entering_lineages(0, rollbacks, 3) == ((), (), ())
    assert entering_lineages(3, rollbacks, 3) == ((0, 1, 2), (0,), (0, 1, 2))
    assert entering_lineages(4, rollbacks, 3) == shard_lineages(3, rollbacks, 3)
