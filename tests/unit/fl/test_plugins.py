"""The study plan's seams: codec and learner registries, refused names, the SGD-delta learner."""

from __future__ import annotations

import pytest
import torch

from consent.ids import Address, study_id
from consent.records import StudyRecord
from consent.sealing import SealingError, generate_keypair
from fl.codecs import make_codec
from fl.errors import UnknownPluginError
from fl.learners import make_learner
from fl.models import ModelSpec
from fl.roles.errors import MetadataError
from fl.roles.plan import StudyPlan
from fl.strategies import FedAvg
from fl.strategy import ClientUpdate


def test_sealed_codec_round_trips_only_for_the_aggregator_key() -> None:
    keys = generate_keypair()
    study = StudyRecord(
        study_id("codec"), Address("0x" + "00" * 20), bytes(keys.public_key), 1, "", ()
    )
    codec = make_codec("sealed")

    encoded = codec.encode(b"payload", study)

    assert encoded != b"payload"
    assert codec.decode(encoded, keys.private_key) == b"payload"
    with pytest.raises(SealingError):
        codec.decode(encoded, generate_keypair().private_key)


def test_unknown_codec_or_learner_in_a_plan_is_a_metadata_error_naming_it() -> None:
    with pytest.raises(UnknownPluginError, match="known: sealed"):
        make_codec("secagg")
    with pytest.raises(MetadataError, match="ridge"):
        StudyPlan(model=ModelSpec.linear(3, "classification"), learner="ridge")
    with pytest.raises(MetadataError, match="plaintext"):
        StudyPlan(model=ModelSpec.linear(3, "classification"), codec="plaintext")


def test_sgd_delta_learner_combines_with_the_strategy_and_reports_decisions() -> None:
    learner = make_learner("sgd-delta")
    base = {"w": torch.zeros(2)}
    updates = [
        ClientUpdate("a", {"w": torch.ones(2)}, 3),
        ClientUpdate("b", {"w": -torch.ones(2)}, 1),
    ]

    combined = learner.combine(base, updates, FedAvg())

    assert combined.state["w"].tolist() == [0.5, 0.5]
    assert [d.weight for d in combined.decisions] == [0.75, 0.25]
    assert learner.update_template(base) is base


def test_plan_round_trips_codec_and_learner() -> None:
    plan = StudyPlan(model=ModelSpec.linear(3, "classification"))

    again = StudyPlan.from_json_bytes(plan.to_json_bytes())

    assert (again.codec, again.learner) == ("sealed", "sgd-delta")
    assert again == plan
