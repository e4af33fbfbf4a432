"""DUO coverage rules and the on-chain purposes mask."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consent.purposes import (
    DISEASES,
    GRU,
    HMB,
    METHODS_BIT,
    NMDS_BIT,
    ConsentScope,
    InvalidPurposesError,
    Purpose,
    StudyPurpose,
    UnknownPurposeError,
    covers,
    covers_mask,
    parse_purpose,
)

CANCER = Purpose("DS", "CANCER")
DIABETES = Purpose("DS", "DIABETES")


def scope(*codes: str) -> ConsentScope:
    return ConsentScope.parse(codes)


def study(code: str, *, methods: bool = False) -> StudyPurpose:
    return StudyPurpose.parse(code, methods=methods)


@pytest.mark.parametrize("code", ["GRU", "HMB", "DS-CANCER", "DS-DIABETES"])
def test_gru_covers_every_purpose(code: str) -> None:
    assert covers(scope("GRU"), study(code))


def test_hmb_covers_hmb_and_every_disease_but_not_general_research() -> None:
    assert covers(scope("HMB"), study("HMB"))
    assert covers(scope("HMB"), study("DS-CANCER"))
    assert not covers(scope("HMB"), study("GRU"))


def test_disease_specific_consent_covers_only_its_disease() -> None:
    assert covers(scope("DS-CANCER"), study("DS-CANCER"))
    assert not covers(scope("DS-CANCER"), study("DS-DIABETES"))
    assert not covers(scope("DS-CANCER"), study("HMB"))
    assert not covers(scope("DS-CANCER"), study("GRU"))


def test_any_listed_purpose_may_cover() -> None:
    assert covers(scope("DS-CANCER", "DS-DIABETES"), study("DS-DIABETES"))


def test_nmds_refuses_general_methods_research_but_not_disease_specific_methods() -> None:
    assert not covers(scope("HMB", "NMDS"), study("HMB", methods=True))
    assert covers(scope("HMB", "NMDS"), study("DS-CANCER", methods=True))
    assert covers(scope("HMB", "NMDS"), study("HMB"))
    assert covers(scope("HMB"), study("HMB", methods=True))


def test_an_undeclared_study_purpose_is_covered_by_every_consent() -> None:
    assert covers(scope("DS-CANCER"), None)


def test_parse_is_case_insensitive_and_round_trips_through_str() -> None:
    assert parse_purpose(" ds-cancer ") == CANCER
    assert str(CANCER) == "DS-CANCER"
    assert scope("nmds", "hmb").codes == ("HMB", "NMDS")


@pytest.mark.parametrize("code", ["DS-FLU", "XYZ", "DS-", "NRES"])
def test_unknown_codes_are_refused_by_name(code: str) -> None:
    with pytest.raises(UnknownPurposeError, match="unknown purpose"):
        parse_purpose(code)


def test_a_scope_needs_a_purpose_beside_the_modifier() -> None:
    with pytest.raises(InvalidPurposesError):
        scope("NMDS")


def test_mask_layout_is_the_documented_one() -> None:
    assert scope("GRU").mask == 1
    assert scope("HMB").mask == 2
    assert scope("HMB", "NMDS").mask == 2 | NMDS_BIT
    assert scope("DS-CANCER").mask == 1 << 8
    assert scope("DS-DIABETES").mask == 1 << 9
    assert study("HMB", methods=True).mask == 2 | METHODS_BIT


def test_study_masks_must_name_exactly_one_purpose() -> None:
    assert StudyPurpose.from_mask(0) is None
    with pytest.raises(InvalidPurposesError, match="exactly one"):
        StudyPurpose.from_mask(GRU.bit | HMB.bit)
    with pytest.raises(InvalidPurposesError):
        StudyPurpose.from_mask(HMB.bit | NMDS_BIT)


def test_scope_masks_refuse_unknown_bits() -> None:
    with pytest.raises(InvalidPurposesError):
        ConsentScope.from_mask(1 << 63)
    with pytest.raises(InvalidPurposesError):
        ConsentScope.from_mask(HMB.bit | METHODS_BIT)


def test_without_removes_purposes_and_returns_none_when_nothing_is_left() -> None:
    both = scope("HMB", "DS-CANCER", "NMDS")
    assert both.without([HMB]) == ConsentScope(frozenset({CANCER}), nmds=True)
    assert both.without([HMB, CANCER]) is None


purposes = st.sampled_from([GRU, HMB, *(Purpose("DS", d) for d in DISEASES)])
scopes = st.builds(ConsentScope, st.frozensets(purposes, min_size=1, max_size=4), st.booleans())
studies = st.builds(StudyPurpose, purposes, st.booleans())


@given(scopes)
def test_scope_masks_round_trip(value: ConsentScope) -> None:
    assert ConsentScope.from_mask(value.mask) == value


@given(scopes, studies)
def test_covers_mask_agrees_with_covers(value: ConsentScope, purpose: StudyPurpose) -> None:
    assert covers_mask(value.mask, purpose.mask) == covers(value, purpose)


@given(scopes, studies)
def test_a_wider_consent_covers_whatever_a_narrower_one_does(
    value: ConsentScope, purpose: StudyPurpose
) -> None:
    wider = ConsentScope(value.purposes | {GRU}, value.nmds)
    assert not covers(value, purpose) or covers(wider, purpose)


@given(scopes, studies)
def test_the_bit_test_agrees_with_the_hierarchy(value: ConsentScope, purpose: StudyPurpose) -> None:
    assert purpose.covers_mask(value.mask) == covers(value, purpose)
