"""The aggregator's protocol logic over in-memory fakes."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace

import pytest
import torch

from consent.formats.round_metrics import RoundMetrics
from consent.ids import Bytes32, parse_address
from consent.records import UpdateSubmission
from consent.sealing import generate_keypair, seal
from fl.aggregate import apply_delta, weighted_mean
from fl.ports import RoundState
from fl.roles import MetadataError, RoundKeptChangingError, StudyPlan
from fl.roles.aggregator import Aggregator
from fl.serialize import bytes_to_state_dict, state_dict_to_bytes
from tests.unit.fl.roles.conftest import AGGREGATOR, HOSPITALS, World
from tests.unit.fl.roles.fakes import FakeLedger


def test_first_start_opens_round_zero_on_the_plans_initial_model(world: World) -> None:
    assert world.aggregator().start() == 0
    record = world.chain.rounds[0]
    data = world.store.get(record.base_model_cid)
    assert hashlib.sha256(data).digest() == record.base_model_hash
    expected = world.plan.initial_state()
    loaded = bytes_to_state_dict(data)
    assert all(torch.equal(loaded[k], expected[k]) for k in expected)


def test_round_with_every_member_is_finalized_with_the_sample_weighted_mean(world: World) -> None:
    world.enrol_all()
    aggregator = world.aggregator(rounds=2)
    aggregator.start()
    for h in (0, 1):
        world.trainer(h).step()
    updates = world.chain.rounds[0].updates
    deltas = [bytes_to_state_dict(_unseal(world, u.update_cid)) for u in updates]

    outcome = aggregator.poll()

    assert outcome is not None
    assert outcome.round == 0
    assert outcome.rejected == ()
    assert outcome.missing == ()
    assert {h for h, _ in outcome.accepted} == set(HOSPITALS)
    expected = apply_delta(
        world.plan.initial_state(), weighted_mean(deltas, [u.num_patients for u in updates])
    )
    model = bytes_to_state_dict(world.store.get(world.chain.rounds[0].model_cid))
    assert all(torch.allclose(model[k], expected[k]) for k in expected)
    assert world.chain.rounds[0].state == RoundState.FINALIZED
    assert world.chain.rounds[1].base_model_cid == world.chain.rounds[0].model_cid
    metrics = json.loads(world.store.get(world.chain.rounds[0].metrics_cid))
    assert metrics["round"] == 0
    assert len(metrics["accepted"]) == 2
    # the FedAvg weight is the on-chain patient count, never the unbounded row count
    chain_counts = {u.hospital: u.num_patients for u in updates}
    assert {e["hospital"]: e["num_patients"] for e in metrics["accepted"]} == chain_counts


def _unseal(world: World, cid: str) -> bytes:
    from consent.sealing import open_sealed

    return open_sealed(world.store.get(cid), world.seal.private_key)


def test_aggregator_waits_for_the_timeout_once_the_minimum_is_met(world: World) -> None:
    world.enrol_all()
    now = [100.0]
    aggregator = world.aggregator(clock=lambda: now[0])
    aggregator.start()
    assert aggregator.poll() is None  # nobody submitted
    world.trainer(0).step()
    now[0] += world.plan.round_timeout_s - 1
    assert aggregator.poll() is None
    now[0] += 1

    outcome = aggregator.poll()

    assert outcome is not None
    assert outcome.missing == (HOSPITALS[1],)


def test_tampered_and_wrongly_sealed_updates_are_rejected_with_reasons(world: World) -> None:
    world.enrol_all()
    aggregator = world.aggregator()
    aggregator.start()
    world.trainer(0).step()
    base = world.plan.initial_state()
    wrong_key = seal(state_dict_to_bytes(base), generate_keypair().public_key)
    cid = world.store.put(wrong_key)
    FakeLedger(world.chain, HOSPITALS[1]).submit_update(
        world.study, 0, UpdateSubmission(
            update_hash=Bytes32(hashlib.sha256(wrong_key).digest()), update_cid=cid,
            num_samples=5, num_patients=5, data_root=Bytes32(b"\x01" * 32),
            consent_block=world.chain.block,
        ),
    )  # fmt: skip

    outcome = aggregator.poll()

    assert outcome is not None
    assert [h for h, _ in outcome.accepted] == [HOSPITALS[0]]
    assert [r.hospital for r in outcome.rejected] == [HOSPITALS[1]]
    assert "authentication failed" in outcome.rejected[0].reason
    metrics = json.loads(world.store.get(outcome.metrics_cid))
    assert metrics["rejected"][0]["hospital"] == HOSPITALS[1]


def test_update_whose_bytes_differ_from_the_ledger_hash_is_rejected(world: World) -> None:
    world.enrol_all()
    aggregator = world.aggregator()
    aggregator.start()
    world.trainer(0).step()
    record = world.chain.rounds[0]
    forged = replace(record.updates[0], update_hash=Bytes32(b"\x02" * 32))
    world.chain.rounds[0] = replace(record, updates=(forged,))

    outcome = aggregator.poll() or aggregator.finalize(world.chain.rounds[0])

    assert outcome.accepted == ()
    assert "SHA-256" in outcome.rejected[0].reason
    model = bytes_to_state_dict(world.store.get(outcome.model_cid))
    base = world.plan.initial_state()
    assert all(torch.equal(model[k], base[k]) for k in base)  # nothing accepted: base kept


def test_restarted_aggregator_resumes_the_open_round_and_finishes(world: World) -> None:
    world.enrol_all()
    first = world.aggregator(rounds=2)
    first.start()
    world.trainer(0).step()
    restarted = world.aggregator(rounds=2)

    assert restarted.start() is None  # round 0 still open: nothing new opened
    world.trainer(1).step()
    assert restarted.poll() is not None
    for h in (0, 1):
        world.trainer(h).step()
    assert restarted.poll() is not None
    assert restarted.done()
    assert [r.state for r in world.chain.rounds] == [RoundState.FINALIZED] * 2
    assert restarted.poll() is None
    assert len(world.chain.rounds) == 2


def test_study_metadata_that_is_not_a_plan_is_refused(world: World) -> None:
    chain = world.chain
    chain.study = replace(chain.study, metadata_cid=world.store.put(b'{"format": "other"}'))
    aggregator = Aggregator(
        study=world.study, ledger=FakeLedger(chain, AGGREGATOR), store=world.store,
        seal_key=world.seal.private_key, rounds=1,
    )  # fmt: skip
    with pytest.raises(MetadataError):
        aggregator.start()


def test_plan_round_trips_through_canonical_json(world: World) -> None:
    data = world.plan.to_json_bytes()
    assert StudyPlan.from_json_bytes(data) == world.plan
    assert StudyPlan.from_json_bytes(data).to_json_bytes() == data


class FlakyStore:
    """Raises ConnectionError on the first `failures` reads, like an IPFS node restarting."""

    def __init__(self, inner: object, failures: int) -> None:
        self.inner = inner
        self.failures = failures

    def put(self, data: bytes) -> str:
        return self.inner.put(data)  # type: ignore[attr-defined, no-any-return]

    def get(self, cid: str) -> bytes:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("node restarting")
        return self.inner.get(cid)  # type: ignore[attr-defined, no-any-return]


def test_run_retries_while_the_store_is_down_instead_of_rejecting_updates(world: World) -> None:
    world.enrol_all()
    world.aggregator(rounds=1).start()
    for h in (0, 1):
        world.trainer(h).step()
    flaky = FlakyStore(world.store, failures=2)
    aggregator = Aggregator(
        study=world.study, ledger=FakeLedger(world.chain, AGGREGATOR), store=flaky,
        seal_key=world.seal.private_key, rounds=1, plan=world.plan,
    )  # fmt: skip

    outcomes = aggregator.run(poll_interval=0)

    assert flaky.failures == 0
    assert len(outcomes) == 1
    assert outcomes[0].rejected == ()
    assert len(outcomes[0].accepted) == 2
    assert aggregator.done()


class HookedStore(FlakyStore):
    """Runs `hook` once, on the first read of an update (while the aggregator aggregates)."""

    def __init__(self, inner: object, hook: object) -> None:
        super().__init__(inner, failures=0)
        self.hook = hook

    def get(self, cid: str) -> bytes:
        hook, self.hook = self.hook, None
        if callable(hook):
            hook()
        return super().get(cid)


def test_an_update_landing_during_aggregation_is_aggregated_too(world: World) -> None:
    world.enrol_all()
    now = [0.0]
    world.aggregator(rounds=1).start()
    world.trainer(0).step()
    store = HookedStore(world.store, lambda: world.trainer(1).step())
    aggregator = Aggregator(
        study=world.study, ledger=FakeLedger(world.chain, AGGREGATOR), store=store,
        seal_key=world.seal.private_key, rounds=1, plan=world.plan, clock=lambda: now[0],
    )  # fmt: skip
    aggregator.poll()  # sees the round open with one update
    now[0] += world.plan.round_timeout_s

    outcome = aggregator.poll()

    assert outcome is not None
    assert {h for h, _ in outcome.accepted} == set(HOSPITALS)
    assert outcome.missing == ()


def test_an_update_landing_between_the_read_and_the_finalize_is_aggregated_on_retry(
    world: World,
) -> None:
    world.enrol_all()
    aggregator = world.aggregator(rounds=1)
    aggregator.start()
    world.trainer(0).step()
    late = world.trainer(1)

    def land_once() -> None:
        world.chain.before_finalize.clear()
        late.step()

    world.chain.before_finalize.append(land_once)
    outcome = aggregator.finalize(world.chain.rounds[0])

    record = world.chain.rounds[0]
    assert record.state == RoundState.FINALIZED
    assert [u.hospital for u in record.updates] == list(HOSPITALS)
    assert {h for h, _ in outcome.accepted} == set(HOSPITALS)
    assert (outcome.model_cid, outcome.metrics_cid) == (record.model_cid, record.metrics_cid)
    metrics = json.loads(world.store.get(record.metrics_cid))
    assert {e["hospital"] for e in metrics["accepted"]} == set(HOSPITALS)
    deltas = [bytes_to_state_dict(_unseal(world, u.update_cid)) for u in record.updates]
    expected = apply_delta(
        world.plan.initial_state(), weighted_mean(deltas, [u.num_patients for u in record.updates])
    )
    model = bytes_to_state_dict(world.store.get(record.model_cid))
    assert all(torch.allclose(model[k], expected[k]) for k in expected)


def test_finalize_fails_clearly_and_leaves_the_round_open_when_updates_keep_landing(
    world: World,
) -> None:
    world.enrol_all()
    aggregator = world.aggregator(rounds=1)
    aggregator.start()
    world.trainer(0).step()
    landed: list[str] = []

    def land_another() -> None:  # a newly admitted member submits before every finalize
        newcomer = parse_address(f"0x{0xC0 + len(landed):040x}")
        landed.append(newcomer)
        world.chain.study = replace(
            world.chain.study, hospitals=(*world.chain.study.hospitals, newcomer)
        )
        record = world.chain.rounds[0]
        extra = replace(record.updates[0], hospital=newcomer)
        world.chain.rounds[0] = replace(record, updates=(*record.updates, extra))

    world.chain.before_finalize.append(land_another)

    with pytest.raises(RoundKeptChangingError) as info:
        aggregator.finalize(world.chain.rounds[0])

    assert isinstance(info.value, RuntimeError)
    assert info.value.round == 0
    assert world.chain.rounds[0].state == RoundState.OPEN
    assert len(landed) == info.value.attempts
    assert len(world.chain.rounds[0].updates) == 1 + len(landed)


def test_update_replayed_from_another_hospital_is_rejected_by_its_envelope(world: World) -> None:
    world.enrol_all()
    aggregator = world.aggregator()
    aggregator.start()
    world.trainer(0).step()
    honest = world.chain.rounds[0].updates[0]  # hospital 0's sealed update, copied by hospital 1
    FakeLedger(world.chain, HOSPITALS[1]).submit_update(
        world.study, 0, UpdateSubmission(
            update_hash=honest.update_hash, update_cid=honest.update_cid, num_samples=50,
            num_patients=50, data_root=Bytes32(b"\x01" * 32), consent_block=world.chain.block,
        ),
    )  # fmt: skip

    outcome = aggregator.poll()

    assert outcome is not None
    assert [h for h, _ in outcome.accepted] == [HOSPITALS[0]]
    (rejected,) = outcome.rejected
    assert rejected.hospital == HOSPITALS[1]
    assert "not its submitter" in rejected.reason
    assert [(d.client_id, d.kept) for d in outcome.decisions] == [
        (HOSPITALS[0], True),
        (HOSPITALS[1], False),
    ]
    metrics = RoundMetrics.from_json_bytes(world.store.get(outcome.metrics_cid))
    assert [(d.hospital, d.kept, d.weight) for d in metrics.decisions] == [
        (HOSPITALS[0], True, 1.0),
        (HOSPITALS[1], False, 0.0),
    ]
