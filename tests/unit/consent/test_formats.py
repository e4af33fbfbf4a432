"""Artifact formats: versioned, extensions ignored by readers, older versions still read."""

from __future__ import annotations

import json

import pytest

from consent.formats import FormatError, UnknownFormatError
from consent.formats.round_metrics import METRICS_FORMAT, Decision, RoundMetrics
from consent.formats.study_plan import PLAN_FORMAT, PlanDocument
from consent.formats.update_envelope import UpdateEnvelope
from consent.ids import Bytes32
from consent.records import RoundRecord, UpdateSubmission
from consent.rounds import RoundState

HOSPITAL = "0x" + "ab" * 20


def _metrics() -> RoundMetrics:
    return RoundMetrics(
        round=2,
        accepted=((HOSPITAL, 10),),
        rejected=(),
        decisions=(Decision(HOSPITAL, True, 1.0),),
        strategy={"name": "fedavg", "options": {}},
    )


def test_round_metrics_round_trip_and_unknown_keys_and_extensions_are_ignored() -> None:
    body = json.loads(_metrics().to_json_bytes())
    assert body["format"] == METRICS_FORMAT == "consentfl.round-metrics/2"
    body["extensions"] = {"dp": {"epsilon": 1.5}}
    body["a_field_from_the_future"] = [1, 2]

    parsed = RoundMetrics.from_json_bytes(json.dumps(body).encode())

    assert parsed.decisions == (Decision(HOSPITAL, True, 1.0),)
    assert parsed.extensions == {"dp": {"epsilon": 1.5}}
    assert parsed.accepted == ((HOSPITAL, 10),)


def test_round_metrics_version_1_reads_without_decisions() -> None:
    body = {"format": "consentfl.round-metrics/1", "round": 0, "accepted": [], "rejected": []}

    parsed = RoundMetrics.from_json_bytes(json.dumps(body).encode())

    assert (parsed.version, parsed.decisions) == (1, ())


def test_round_metrics_of_an_unknown_version_or_malformed_decision_are_named_errors() -> None:
    with pytest.raises(UnknownFormatError, match="round-metrics/9"):
        RoundMetrics.from_json_bytes(b'{"format": "consentfl.round-metrics/9"}')
    body = json.loads(_metrics().to_json_bytes())
    body["decisions"][0]["kept"] = "yes"
    with pytest.raises(FormatError, match="kept"):
        RoundMetrics.from_json_bytes(json.dumps(body).encode())


def test_study_plan_version_1_defaults_to_the_sealed_codec_and_sgd_delta_learner() -> None:
    v1 = {
        "format": "consentfl.study-plan/1", "model": {"m": 1}, "training": {"t": 2},
        "strategy": {"name": "fedavg", "options": {}}, "init_seed": 3, "round_timeout_s": 1.0,
    }  # fmt: skip

    parsed = PlanDocument.from_json_bytes(json.dumps(v1).encode())

    assert (parsed.codec, parsed.learner, parsed.init_seed) == ("sealed", "sgd-delta", 3)
    again = PlanDocument.from_json_bytes(parsed.to_json_bytes())
    assert again == parsed
    assert json.loads(parsed.to_json_bytes())["format"] == PLAN_FORMAT


def test_update_envelope_round_trips_and_names_a_mismatch() -> None:
    envelope = UpdateEnvelope(round=4, hospital=HOSPITAL, codec="sealed", extensions={"k": 1})

    parsed = UpdateEnvelope.from_metadata(envelope.to_metadata())

    assert parsed == envelope
    assert (
        parsed.mismatch(round_=4, hospital=HOSPITAL.upper().replace("0X", "0x"), codec="sealed")
        is None
    )
    assert "round 4, not 5" in (parsed.mismatch(round_=5, hospital=HOSPITAL, codec="sealed") or "")
    assert "secagg" in (parsed.mismatch(round_=4, hospital=HOSPITAL, codec="secagg") or "")
    with pytest.raises(UnknownFormatError):
        UpdateEnvelope.from_metadata({"round": "4", "hospital": HOSPITAL})


def test_update_submission_refuses_malformed_values() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        UpdateSubmission(
            update_hash=b"\x01" * 31, update_cid="c", num_samples=1,  # type: ignore[arg-type]
            num_patients=1, data_root=b"\x02" * 32, consent_block=1,  # type: ignore[arg-type]
        )  # fmt: skip
    with pytest.raises(ValueError, match="num_patients"):
        UpdateSubmission(
            update_hash=Bytes32(b"\x01" * 32), update_cid="c", num_samples=1, num_patients=-1,
            data_root=Bytes32(b"\x02" * 32), consent_block=1,
        )  # fmt: skip


def test_round_phases_say_what_they_allow() -> None:
    assert RoundState.OPEN.accepts_updates
    assert not RoundState.OPEN.is_closed
    assert RoundState.FINALIZED.is_closed
    assert not RoundState.FINALIZED.accepts_updates
    assert RoundRecord.never_opened(3).state is RoundState.NONE
