"""Fixed-point quantization: stated error, clipping, and the overflow bound checked by name."""

from __future__ import annotations

import numpy as np
import pytest

from consent.secagg import (
    RingOverflowError,
    RingParams,
    SecAggParamsError,
    dequantize_mean,
    quantize,
)
from consent.secagg.ring import ring_sum


def test_weighted_mean_is_within_the_stated_error() -> None:
    params = RingParams(scale_bits=10, clip=2.0)
    rng = np.random.default_rng(0)
    xs = [rng.uniform(-1.5, 1.5, 1000) for _ in range(5)]
    ws = [3, 1, 7, 2, 9]
    total = ring_sum([quantize(x, w, params) for x, w in zip(xs, ws, strict=True)])
    mean = dequantize_mean(total, sum(ws), params)
    expected = sum(w * x for x, w in zip(xs, ws, strict=True)) / sum(ws)
    error = np.abs(mean.astype(np.float64) - expected)
    assert error.max() <= params.max_error + 1e-6
    assert error.max() > params.max_error / 100  # a coarse scale really does round


def test_negative_sums_survive_the_ring() -> None:
    params = RingParams(scale_bits=8, clip=1.0)
    total = ring_sum(
        [quantize(np.full(3, -0.5), 4, params), quantize(np.full(3, -0.25), 4, params)]
    )
    assert np.allclose(dequantize_mean(total, 8, params), -0.375)


def test_values_beyond_the_clip_are_clipped() -> None:
    params = RingParams(scale_bits=8, clip=1.0)
    mean = dequantize_mean(quantize(np.array([5.0, -5.0, 0.5]), 1, params), 1, params)
    assert mean.tolist() == [1.0, -1.0, 0.5]


def test_parameters_that_could_overflow_the_ring_are_refused() -> None:
    with pytest.raises(RingOverflowError) as caught:
        RingParams(scale_bits=40, clip=1024.0, max_weight_sum=2**20)
    assert caught.value.bound > caught.value.limit


def test_a_weight_above_the_bound_is_refused() -> None:
    params = RingParams(scale_bits=8, clip=1.0, max_weight_sum=100)
    with pytest.raises(RingOverflowError):
        quantize(np.zeros(2), 101, params)
    with pytest.raises(RingOverflowError):
        dequantize_mean(quantize(np.zeros(2), 100, params), 101, params)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_updates_are_refused(bad: float) -> None:
    with pytest.raises(SecAggParamsError):
        quantize(np.array([0.0, bad]), 1, RingParams())


def test_zero_weight_is_refused() -> None:
    with pytest.raises(SecAggParamsError):
        quantize(np.zeros(2), 0, RingParams())
