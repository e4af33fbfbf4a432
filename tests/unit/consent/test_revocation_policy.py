"""The study plan's revocation policy (issue 16): forward by default, unlearn with a window,
validated with named errors, and carried through the plan's bytes."""

from __future__ import annotations

import pytest

from consent.formats.revocation import (
    RevocationMode,
    RevocationPolicy,
    RevocationPolicyError,
    UnlearningWindowError,
)
from fl.learners.sharded import ShardedLearner
from fl.models import ModelSpec
from fl.roles import StudyPlan
from fl.roles.errors import MetadataError

UNLEARN = RevocationPolicy(mode=RevocationMode.UNLEARN, window_rounds=2, window_seconds=3600.0)


def test_an_absent_section_is_forward_and_leaves_the_plan_bytes_alone() -> None:
    plan = StudyPlan(model=ModelSpec.linear(3, "classification"))
    assert not plan.revocation.unlearns
    assert b"revocation" not in plan.to_json_bytes()
    assert RevocationPolicy.from_extensions({}) == RevocationPolicy()


def test_an_unlearn_policy_round_trips_through_the_plan() -> None:
    plan = StudyPlan(model=ModelSpec.linear(3, "classification"), revocation=UNLEARN)
    again = StudyPlan.from_json_bytes(plan.to_json_bytes())
    assert again.revocation == UNLEARN
    assert again.revocation.unlearns


@pytest.mark.parametrize(
    ("rounds", "seconds"), [(0, 60.0), (2, 0.0), (2, float("inf")), (-1, 60.0), (2, -5.0)]
)
def test_an_unlearn_window_must_be_positive_and_finite(rounds: int, seconds: float) -> None:
    with pytest.raises(UnlearningWindowError) as caught:
        RevocationPolicy(mode=RevocationMode.UNLEARN, window_rounds=rounds, window_seconds=seconds)
    assert (caught.value.window_rounds, caught.value.window_seconds) == (rounds, seconds)


@pytest.mark.parametrize(
    "section",
    [
        {"policy": "erase"},
        {"policy": "unlearn", "window_rounds": "2", "window_seconds": 60},
        {"policy": "unlearn", "window_rounds": True, "window_seconds": 60},
        {"policy": "unlearn", "window_rounds": 2, "window_seconds": 60, "shards": 0},
        {"policy": "unlearn", "window_rounds": 2, "window_seconds": 60, "colour": "red"},
        {"policy": "forward", "window_rounds": 2},
        "unlearn",
    ],
)
def test_a_bad_section_is_a_named_error(section: object) -> None:
    with pytest.raises(RevocationPolicyError):
        RevocationPolicy.from_extensions({"revocation": section})


def test_a_plan_with_a_bad_section_is_refused_with_the_named_error() -> None:
    plan = StudyPlan(model=ModelSpec.linear(3, "classification"), revocation=UNLEARN)
    body = plan.to_json_bytes().replace(b'"window_rounds":2', b'"window_rounds":0')
    with pytest.raises(UnlearningWindowError):
        StudyPlan.from_json_bytes(body)


def test_sharded_unlearning_wraps_the_learner_and_refuses_what_does_not_split() -> None:
    sharded = RevocationPolicy(
        mode=RevocationMode.UNLEARN, window_rounds=1, window_seconds=60.0, shards=4
    )
    plan = StudyPlan(model=ModelSpec.linear(3, "classification"), revocation=sharded)
    learner = plan.make_learner()
    assert isinstance(learner, ShardedLearner)
    assert learner.shards == 4
    assert StudyPlan.from_json_bytes(plan.to_json_bytes()) == plan
    refused = [
        {"strategy": "median"},
        {"codec": "quantized-int8"},
        {"model": ModelSpec.linear(3, "regression")},
        {"learner": "ridge"},
    ]
    for change in refused:
        fields: dict[str, object] = {"model": ModelSpec.linear(3, "classification"), **change}
        with pytest.raises(MetadataError, match="shards"):
            StudyPlan(revocation=sharded, **fields)  # type: ignore[arg-type]
