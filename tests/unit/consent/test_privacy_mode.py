"""The study plan's privacy mode: parsed from extensions, ordered, and required by name."""

from __future__ import annotations

import pytest

from consent.formats import FormatError
from consent.formats.privacy import PrivacyMode, PrivacyModeTooWeakError, PrivacySpec
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
