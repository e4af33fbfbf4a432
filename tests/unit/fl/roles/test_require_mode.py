"""`--require-mode`: a trainer refuses a study whose privacy mode is weaker than it requires."""

from __future__ import annotations

import pytest

from consent.formats.privacy import PRIVACY_KEY, PrivacyMode, PrivacyModeTooWeakError, PrivacySpec
from consent.formats.study_plan import PlanDocument
from fl.roles.errors import MetadataError
from fl.roles.plan import StudyPlan
from fl.roles.trainer import Trainer
from tests.unit.fl.roles.conftest import HOSPITALS, World, dataset_for
from tests.unit.fl.roles.fakes import FakeConsent, FakeLedger


def _trainer(world: World, required: PrivacyMode) -> Trainer:
    return Trainer(
        study=world.study,
        ledger=FakeLedger(world.chain, HOSPITALS[0]),
        store=world.store,
        consent=FakeConsent(world.chain),
        dataset=dataset_for(0),
        state_dir=world.tmp / "h0",
        require_mode=required,
    )


def test_trainer_requiring_secagg_refuses_a_sealed_study(world: World) -> None:
    with pytest.raises(PrivacyModeTooWeakError) as caught:
        _trainer(world, PrivacyMode.SECAGG).plan()
    assert caught.value.mode is PrivacyMode.SEALED


def test_trainer_requiring_sealed_takes_a_sealed_study(world: World) -> None:
    assert _trainer(world, PrivacyMode.SEALED).plan().privacy.mode is PrivacyMode.SEALED


def test_sealed_plans_keep_their_bytes(world: World) -> None:
    assert PlanDocument.from_json_bytes(world.plan.to_json_bytes()).extensions == {}


def test_a_secagg_plan_round_trips_and_satisfies_a_trainer_requiring_secagg(world: World) -> None:
    document = PlanDocument.from_json_bytes(world.plan.to_json_bytes())
    spec = PrivacySpec(mode=PrivacyMode.SECAGG, threshold=2)
    secagg = PlanDocument(
        model=document.model,
        training=document.training,
        strategy=document.strategy,
        extensions={PRIVACY_KEY: spec.to_extension()},
    )
    plan = StudyPlan.from_json_bytes(secagg.to_json_bytes())
    assert plan.privacy == spec
    plan.privacy.require(PrivacyMode.SECAGG)


def test_a_secagg_plan_with_a_robust_strategy_is_refused_by_name(world: World) -> None:
    document = PlanDocument.from_json_bytes(world.plan.to_json_bytes())
    secagg = PlanDocument(
        model=document.model,
        training=document.training,
        strategy="median",
        extensions={PRIVACY_KEY: PrivacySpec(mode=PrivacyMode.SECAGG, threshold=2).to_extension()},
    )
    with pytest.raises(MetadataError, match="secagg"):
        StudyPlan.from_json_bytes(secagg.to_json_bytes())
