"""The study plan's privacy mode: parsed from extensions, ordered, and required by name."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from consent.formats import FormatError
from consent.formats.privacy import PrivacyMode, PrivacyModeTooWeakError, PrivacySpec
from consent.privacy import DpTerms
from consent.secagg import RingParams


def test_absent_section_means_sealed() -> None:
    assert PrivacySpec.from_extensions({}).mode is PrivacyMode.SEALED
    assert PrivacySpec().to_extension() == {}


def test_secagg_section_round_trips() -> None:
    spec = PrivacySpec(mode=PrivacyMode.SECAGG, threshold=3, ring=RingParams(scale_bits=20))
    back = PrivacySpec.from_extensions({"privacy": spec.to_extension()})
    assert back == spec


@pytest.mark.parametrize(
    "section",
    [
        {"mode": "homomorphic"},
        {"mode": "secagg", "threshold": 1},
        {"mode": "secagg", "threshold": 3, "scale_bits": 60},
        {"mode": "secagg", "threshold": 3, "clip": 1e30, "scale_bits": 52},
        "secagg",
    ],
)
def test_bad_sections_are_named_format_errors(section: object) -> None:
    with pytest.raises(FormatError):
        PrivacySpec.from_extensions({"privacy": section})


def test_a_weaker_mode_than_required_is_refused() -> None:
    with pytest.raises(PrivacyModeTooWeakError) as caught:
        PrivacySpec().require(PrivacyMode.SECAGG)
    assert (caught.value.mode, caught.value.required) == (PrivacyMode.SEALED, PrivacyMode.SECAGG)
    PrivacySpec().require(PrivacyMode.SEALED)
    PrivacySpec(mode=PrivacyMode.SECAGG, threshold=2).require(PrivacyMode.SECAGG)


TERMS = DpTerms(
    epsilon=3.0, delta=1e-5, noise_multiplier=1.1, max_grad_norm=1.0, sample_rate=0.1,
    steps_per_round=10,
)  # fmt: skip


@pytest.mark.parametrize(
    ("mode", "required", "ok"),
    [
        (PrivacyMode.SEALED, PrivacyMode.SEALED, True),
        (PrivacyMode.SECAGG, PrivacyMode.SEALED, True),
        (PrivacyMode.DP, PrivacyMode.SEALED, True),
        (PrivacyMode.DP_SECAGG, PrivacyMode.SECAGG, True),
        (PrivacyMode.DP_SECAGG, PrivacyMode.DP, True),
        (PrivacyMode.DP_SECAGG, PrivacyMode.DP_SECAGG, True),
        (PrivacyMode.SECAGG, PrivacyMode.DP, False),
        (PrivacyMode.DP, PrivacyMode.SECAGG, False),
        (PrivacyMode.DP, PrivacyMode.DP_SECAGG, False),
        (PrivacyMode.SECAGG, PrivacyMode.DP_SECAGG, False),
        (PrivacyMode.SEALED, PrivacyMode.DP, False),
    ],
)
def test_modes_are_ordered_by_the_protections_they_give(
    mode: PrivacyMode, required: PrivacyMode, ok: bool
) -> None:
    assert mode.satisfies(required) is ok


def test_requiring_dp_refuses_a_secagg_study_and_names_what_it_lacks() -> None:
    with pytest.raises(PrivacyModeTooWeakError, match="record-dp") as caught:
        PrivacySpec(mode=PrivacyMode.SECAGG, threshold=2).require(PrivacyMode.DP)
    assert caught.value.required is PrivacyMode.DP
    PrivacySpec(mode=PrivacyMode.DP_SECAGG, threshold=2, dp=TERMS).require(PrivacyMode.DP)


def test_dp_and_dp_secagg_sections_round_trip_with_their_terms_beside_the_mode() -> None:
    for spec in (
        PrivacySpec(mode=PrivacyMode.DP, dp=TERMS),
        PrivacySpec(mode=PrivacyMode.DP_SECAGG, threshold=3, dp=TERMS),
    ):
        section = spec.to_extension()
        assert section["mode"] == spec.mode.value
        assert section["dp"] == TERMS.to_json_dict()
        assert PrivacySpec.from_extensions({"privacy": section}) == spec
    assert "threshold" not in PrivacySpec(mode=PrivacyMode.DP, dp=TERMS).to_extension()


def test_a_legacy_dp_extension_reads_as_mode_dp() -> None:
    spec = PrivacySpec.from_extensions({"dp": TERMS.to_json_dict()})
    assert (spec.mode, spec.dp) == (PrivacyMode.DP, TERMS)


def test_a_legacy_dp_extension_beside_a_privacy_section_is_refused_by_name() -> None:
    section = PrivacySpec(mode=PrivacyMode.SECAGG, threshold=2).to_extension()
    with pytest.raises(FormatError, match=r"legacy extensions\.dp"):
        PrivacySpec.from_extensions({"privacy": section, "dp": TERMS.to_json_dict()})


@pytest.mark.parametrize(
    "build",
    [
        lambda: PrivacySpec(mode=PrivacyMode.DP),
        lambda: PrivacySpec(mode=PrivacyMode.DP_SECAGG, threshold=2),
        lambda: PrivacySpec(mode=PrivacyMode.DP_SECAGG, threshold=1, dp=TERMS),
        lambda: PrivacySpec(mode=PrivacyMode.SECAGG, threshold=2, dp=TERMS),
        lambda: PrivacySpec(
            mode=PrivacyMode.DP_SECAGG,
            threshold=2,
            dp=DpTerms(**{**TERMS.to_json_dict(), "level": "client", "steps_per_round": 1}),
        ),
    ],
)
def test_parameters_that_do_not_fit_the_mode_are_format_errors(
    build: Callable[[], PrivacySpec],
) -> None:
    with pytest.raises(FormatError):
        build()


def test_bad_dp_terms_in_the_section_are_format_errors() -> None:
    with pytest.raises(FormatError):
        PrivacySpec.from_extensions({"privacy": {"mode": "dp", "dp": {"epsilon": -1}}})
    with pytest.raises(FormatError):
        PrivacySpec.from_extensions({"privacy": {"mode": "dp", "dp": "eps=3"}})
