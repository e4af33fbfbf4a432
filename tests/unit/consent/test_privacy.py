"""DP terms, caps in fixed point and the budget ledger's add-and-compare arithmetic."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consent.privacy import (
    SCALE,
    BudgetLedger,
    DpTerms,
    DpTermsError,
    from_fixed,
    to_fixed_down,
    to_fixed_up,
)


def _terms(**kw: object) -> DpTerms:
    args: dict[str, object] = {
        "epsilon": 3.0,
        "delta": 1e-5,
        "noise_multiplier": 1.1,
        "max_grad_norm": 1.0,
        "sample_rate": 0.0625,
        "steps_per_round": 16,
    }
    args.update(kw)
    return DpTerms(**args)  # type: ignore[arg-type]


def test_caps_follow_the_rdp_conversion_and_floor_at_zero() -> None:
    terms = _terms(orders=(2.0, 8.0, 32.0))
    log_inv_delta = math.log(1e5)
    assert terms.caps()[0] == 0.0  # 3 - 11.51 / 1 < 0: order 2 is unusable at epsilon 3
    assert terms.caps()[1] == pytest.approx(3.0 - log_inv_delta / 7)
    assert terms.caps()[2] == pytest.approx(3.0 - log_inv_delta / 31)
    assert terms.caps_fixed()[2] == math.floor(terms.caps()[2] * SCALE)


@given(st.floats(min_value=0, max_value=1e4, allow_nan=False))
def test_fixed_point_rounds_caps_down_and_spending_up(value: float) -> None:
    assert from_fixed(to_fixed_down(value)) <= value + 1e-12
    assert from_fixed(to_fixed_up(value)) >= value - 1e-12
    assert to_fixed_up(value) - to_fixed_down(value) in (0, 1)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"epsilon": 0.0}, "epsilon"),
        ({"epsilon": math.inf}, "epsilon"),
        ({"delta": 1.0}, "delta"),
        ({"noise_multiplier": -1.0}, "noise_multiplier"),
        ({"sample_rate": 1.5}, "sample_rate"),
        ({"steps_per_round": 0}, "steps_per_round"),
        ({"orders": (1.0, 2.0)}, "orders"),
        ({"orders": (2.0, 2.0)}, "distinct"),
        ({"level": "hospital"}, "level"),
        ({"level": "client", "steps_per_round": 3}, "once per round"),
        ({"epsilon": 0.1, "orders": (2.0, 3.0)}, "no order"),
    ],
)
def test_bad_terms_are_named(change: dict[str, object], message: str) -> None:
    with pytest.raises(DpTermsError, match=message):
        _terms(**change)


def test_terms_round_trip_through_json() -> None:
    terms = _terms(level="record", orders=(4.0, 16.0))
    assert DpTerms.from_json_dict(terms.to_json_dict()) == terms
    with pytest.raises(DpTermsError, match="malformed"):
        DpTerms.from_json_dict({"epsilon": 3})


def test_ledger_affords_while_one_order_stays_under_its_cap() -> None:
    ledger = BudgetLedger.fresh((10, 100))
    step = (6, 40)
    assert ledger.affords(step)
    ledger = ledger.after(step)
    assert ledger.affords(step)  # order 0 would be 12 > 10, order 1 is 80 <= 100
    ledger = ledger.after(step)
    assert ledger.spent == (12, 80)
    assert not ledger.affords(step)  # 18 > 10 and 120 > 100
    assert ledger.affords((0, 20))  # exactly at the cap counts as within it
    assert BudgetLedger.fresh((10, 100)).rounds_left(step) == 2


def test_ledger_refuses_malformed_increments() -> None:
    ledger = BudgetLedger.fresh((10, 100))
    with pytest.raises(DpTermsError, match="expected 2"):
        ledger.affords((1,))
    with pytest.raises(DpTermsError, match="negative"):
        ledger.after((-1, 0))


def test_epsilon_of_is_the_best_order() -> None:
    terms = _terms(orders=(8.0, 32.0))
    rdp = (0.5, 2.0)
    expected = min(0.5 + math.log(1e5) / 7, 2.0 + math.log(1e5) / 31)
    assert terms.epsilon_of(rdp) == pytest.approx(expected)
    assert terms.epsilon_of((0.0, 0.0)) == 0.0
