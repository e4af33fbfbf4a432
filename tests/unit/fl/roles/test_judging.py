"""Decisions and contribution values through the aggregator role, the auditor's recomputation of
them, and the lies it catches (over the in-memory fakes)."""

from __future__ import annotations

import copy
import json
from dataclasses import replace

import pytest
import torch

from consent.contributions import VALUE_SCALE
from consent.formats.round_metrics import Decision, RoundMetrics
from fl.attacks import Attack, AttackKind
from fl.data import HospitalDataset
from fl.roles import Aggregator
from fl.roles.errors import MetadataError
from fl.roles.plan import StudyPlan
from fl.roles.recheck import recheck_round
from fl.roles.trainer import Trainer
from tests.unit.fl.roles.conftest import AGGREGATOR, HOSPITALS, World, dataset_for
from tests.unit.fl.roles.fakes import FakeConsent, FakeLedger


def validation_rows() -> HospitalDataset:
    generator = torch.Generator().manual_seed(99)
    features = torch.randn(60, 3, generator=generator)
    labels = (features[:, 0] > 0).float()
    patients = tuple(HOSPITALS[0] for _ in range(60))  # never trained on: any address will do
    return HospitalDataset(patients, features, labels, "classification", ("a", "b", "c"))


def robust_plan(world: World) -> StudyPlan:
    return replace(world.plan, strategy="fltrust", valuation="exact")


def run_round(world: World, plan: StudyPlan, *, attacker: Attack | None = None) -> Aggregator:
    world.enrol_all()
    aggregator = Aggregator(
        study=world.study,
        ledger=FakeLedger(world.chain, AGGREGATOR),
        store=world.store,
        seal_key=world.seal.private_key,
        rounds=1,
        plan=plan,
        validation_set=validation_rows(),
    )
    aggregator.start()
    for h in range(len(HOSPITALS)):
        Trainer(
            study=world.study,
            ledger=FakeLedger(world.chain, HOSPITALS[h]),
            store=world.store,
            consent=FakeConsent(world.chain),
            dataset=dataset_for(h),
            state_dir=world.tmp / f"h{h}",
            plan=plan,
            attack=attacker if h == 0 else None,
            allow_attacks=attacker is not None,
        ).step()
    assert aggregator.poll() is not None
    return aggregator


def recheck(world: World, plan: StudyPlan, round_: int = 0):  # type: ignore[no-untyped-def]
    return recheck_round(
        study=world.study,
        plan=plan,
        record=world.chain.rounds[round_],
        store=world.store,
        seal_key=world.seal.private_key,
        validation=validation_rows(),
    )


def test_the_metrics_list_a_decision_and_a_value_per_update(world: World) -> None:
    plan = robust_plan(world)
    run_round(world, plan)

    record = world.chain.rounds[0]
    metrics = json.loads(world.store.get(record.metrics_cid))

    assert [d["hospital"] for d in metrics["decisions"]] == [u.hospital for u in record.updates]
    assert [d["hospital"] for d in metrics["decisions"] if d["kept"]] == [
        a["hospital"] for a in metrics["accepted"]
    ]
    assert sum(d["weight"] for d in metrics["decisions"]) == pytest.approx(1.0)
    values = metrics["extensions"]["contributions"]
    assert values["method"] == "exact"
    assert sum(v["value"] for v in values["values"]) == pytest.approx(values["gain"], abs=1e-8)


def test_a_label_flipping_hospital_is_rejected_and_valued_at_most_zero(world: World) -> None:
    plan = robust_plan(world)
    run_round(world, plan, attacker=Attack(AttackKind.LABEL_FLIP))

    metrics = json.loads(world.store.get(world.chain.rounds[0].metrics_cid))

    decisions = {d["hospital"]: d for d in metrics["decisions"]}
    assert decisions[HOSPITALS[0]]["kept"] is False
    assert decisions[HOSPITALS[1]]["kept"] is True
    # the strategy's rejection is listed as such, with its reason, and not aggregated
    assert [r["hospital"] for r in metrics["rejected"]] == [HOSPITALS[0]]
    assert HOSPITALS[0] not in [a["hospital"] for a in metrics["accepted"]]
    values = {v["hospital"]: v["value"] for v in metrics["extensions"]["contributions"]["values"]}
    assert values[HOSPITALS[0]] <= 0 < values[HOSPITALS[1]]


def test_the_auditor_recomputes_the_decisions_values_and_model(world: World) -> None:
    plan = robust_plan(world)
    run_round(world, plan)

    finding = recheck(world, plan)

    assert finding.passed, finding.detail
    assert "exact values match" in finding.detail


def tamper(world: World, edit) -> None:  # type: ignore[no-untyped-def]
    record = world.chain.rounds[0]
    body = json.loads(world.store.get(record.metrics_cid))
    edit(body)
    forged = world.store.put(json.dumps(body).encode())
    world.chain.rounds[0] = replace(record, metrics_cid=forged)


def _keep_the_rejected(body: dict) -> None:  # type: ignore[type-arg]
    for d in body["decisions"]:
        d["kept"], d["weight"] = True, 0.5


def _inflate_a_value(body: dict) -> None:  # type: ignore[type-arg]
    body["extensions"]["contributions"]["values"][0]["value"] += 0.01


def _drop_the_values(body: dict) -> None:  # type: ignore[type-arg]
    del body["extensions"]["contributions"]


@pytest.mark.parametrize(
    ("edit", "caught"),
    [
        (_keep_the_rejected, "kept is True"),
        (_inflate_a_value, "recomputed"),
        (_drop_the_values, "no values"),
    ],
)
def test_tampered_decisions_or_values_are_detected(world: World, edit, caught: str) -> None:  # type: ignore[no-untyped-def]
    plan = robust_plan(world)
    run_round(world, plan, attacker=Attack(AttackKind.LABEL_FLIP))
    assert recheck(world, plan).passed

    tamper(world, edit)

    finding = recheck(world, plan)
    assert not finding.passed
    assert caught in finding.detail


def test_a_model_that_is_not_the_strategys_result_is_detected(world: World) -> None:
    plan = robust_plan(world)
    run_round(world, plan, attacker=Attack(AttackKind.LABEL_FLIP))
    # the aggregator "forgets" FLTrust and publishes plain FedAvg's model with honest-looking
    # metrics: recomputing under the plan's strategy exposes it
    record = world.chain.rounds[0]
    world.chain.rounds[0] = replace(record, model_hash=bytes(32))

    finding = recheck(world, plan)

    assert not finding.passed
    assert "not the strategy's result" in finding.detail


@pytest.mark.parametrize("codec", ["secagg", "plaintext"])
def test_robust_strategies_and_values_are_refused_unless_the_codec_is_sealed(
    world: World, codec: str
) -> None:
    for plan in (robust_plan(world), replace(world.plan, strategy="median")):
        body = json.loads(plan.to_json_bytes())
        body["codec"] = codec
        with pytest.raises(MetadataError, match="need the 'sealed' mode"):
            StudyPlan.from_json_bytes(json.dumps(body).encode())
    with pytest.raises(MetadataError, match="need the 'sealed' mode"):
        replace(world.plan, valuation="loo", codec=codec)
    # FedAvg without values is not refused for this reason (its codec is judged on its own)
    plain = json.loads(world.plan.to_json_bytes())
    plain["codec"] = codec
    with pytest.raises(MetadataError) as caught:
        StudyPlan.from_json_bytes(json.dumps(plain).encode())
    assert "sealed' mode" not in str(caught.value)


def test_the_auditor_refuses_to_recheck_a_round_of_another_codec(world: World) -> None:
    plan = robust_plan(world)
    run_round(world, plan)
    other = copy.copy(plan)  # as a plan of a codec this code cannot build would read
    object.__setattr__(other, "codec", "secagg")

    finding = recheck(world, other)

    assert not finding.passed
    assert "cannot be recomputed" in finding.detail


def test_the_plan_round_trips_its_valuation(world: World) -> None:
    plan = replace(world.plan, valuation="gtg", valuation_options={"permutations": 7})

    again = StudyPlan.from_json_bytes(plan.to_json_bytes())

    assert (again.valuation, dict(again.valuation_options)) == ("gtg", {"permutations": 7})
    with pytest.raises(MetadataError, match="bad valuation"):
        replace(world.plan, valuation="gtg", valuation_options={"permutations": 0})


def test_the_aggregator_records_each_rounds_judgement_on_chain(world: World) -> None:
    plan = robust_plan(world)
    world.enrol_all()
    port = FakeLedger(world.chain, AGGREGATOR)
    aggregator = Aggregator(
        study=world.study,
        ledger=port,
        store=world.store,
        seal_key=world.seal.private_key,
        rounds=1,
        plan=plan,
        validation_set=validation_rows(),
        contributions=port,
    )
    aggregator.start()
    for h in range(len(HOSPITALS)):
        Trainer(
            study=world.study,
            ledger=FakeLedger(world.chain, HOSPITALS[h]),
            store=world.store,
            consent=FakeConsent(world.chain),
            dataset=dataset_for(h),
            state_dir=world.tmp / f"h{h}",
            plan=plan,
        ).step()
    assert aggregator.poll() is not None

    metrics = RoundMetrics.from_json_bytes(world.store.get(world.chain.rounds[0].metrics_cid))
    recorded = world.chain.contributions[0]
    assert bytes(recorded.judgement_hash) == metrics.judgement_digest()
    values = metrics.contribution_values()
    assert {h.lower(): v for h, v in recorded.as_dict().items()} == {
        h.lower(): round(v * VALUE_SCALE) for h, v in values.items()
    }
    assert len(recorded.hospitals) == len(HOSPITALS)
    assert aggregator.record_contributions() == 0  # once per round


def test_a_round_left_unrecorded_by_a_stopped_aggregator_is_recorded_on_restart(
    world: World,
) -> None:
    plan = robust_plan(world)
    run_round(world, plan)  # finalized by an aggregator without a contributions port
    assert world.chain.contributions == {}
    port = FakeLedger(world.chain, AGGREGATOR)

    restarted = Aggregator(
        study=world.study,
        ledger=port,
        store=world.store,
        seal_key=world.seal.private_key,
        rounds=1,
        plan=plan,
        contributions=port,
    )

    assert restarted.record_contributions() == 1
    metrics = RoundMetrics.from_json_bytes(world.store.get(world.chain.rounds[0].metrics_cid))
    assert bytes(world.chain.contributions[0].judgement_hash) == metrics.judgement_digest()


def test_a_changed_decision_changes_the_judgement_digest(world: World) -> None:
    plan = robust_plan(world)
    run_round(world, plan, attacker=Attack(AttackKind.LABEL_FLIP))
    metrics = RoundMetrics.from_json_bytes(world.store.get(world.chain.rounds[0].metrics_cid))
    flipped = tuple(
        Decision(d.hospital, True, d.weight or 0.5, d.reason) for d in metrics.decisions
    )

    assert replace(metrics, decisions=flipped).judgement_digest() != metrics.judgement_digest()
    assert RoundMetrics.from_json_bytes(metrics.to_json_bytes()).judgement_digest() == (
        metrics.judgement_digest()
    )
