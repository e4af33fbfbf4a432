"""Fixed-point quantization of weighted updates into the ring Z/2**64.

Encoding (one hospital, update `x` of floats, integer weight `n` = its sample count)::

    q = n * rint(clip(x, -c, c) * 2**scale_bits)      (int64, then read as uint64)

Summing the `q` of every survivor modulo 2**64 and reading the result as a signed integer gives
exactly `sum_i n_i * rint(clip(x_i) * 2**scale_bits)` as long as that stays inside the signed
range; `RingParams` refuses parameters for which it may not:

    overflow bound:  max_weight_sum * rint(c * 2**scale_bits) <= 2**63 - 1   (checked, named error)

and every encoding refuses a weight above `max_weight_sum`, every decoding a weight sum above it.
Decoding divides by `2**scale_bits * sum_i n_i`, so the result is the weighted FedAvg of the
clipped updates up to a quantization error of at most `0.5 / 2**scale_bits` per coordinate (each
`rint` is off by at most 0.5, and the weighted mean of the errors is bounded by their maximum),
plus the float32 rounding of the final cast. Values beyond `±c` are clipped: choose `c` above any
coordinate a hospital may send (deltas of one round are small; the default 4.0 is generous).

The scale is a power of two so that `x * 2**scale_bits` is exact in float64.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from consent.secagg.errors import RingOverflowError, SecAggParamsError

__all__ = ["RING_BITS", "RingParams", "dequantize_mean", "quantize", "ring_sum", "to_signed"]

RING_BITS: Final = 64
_SIGNED_LIMIT: Final = 2 ** (RING_BITS - 1) - 1

RingVector = npt.NDArray[np.uint64]


@dataclass(frozen=True, slots=True, kw_only=True)
class RingParams:
    """How floats become ring elements; validated at construction (`SecAggParamsError`,
    `RingOverflowError`)."""

    scale_bits: int = 24
    clip: float = 4.0
    max_weight_sum: int = 2**30

    def __post_init__(self) -> None:
        if not 0 <= self.scale_bits <= 52:
            raise SecAggParamsError(f"scale_bits must be in 0..52, got {self.scale_bits}")
        if not (self.clip > 0 and np.isfinite(self.clip)):
            raise SecAggParamsError(f"clip must be a positive finite number, got {self.clip}")
        if self.max_weight_sum < 1:
            raise SecAggParamsError(f"max_weight_sum must be >= 1, got {self.max_weight_sum}")
        bound = self.max_weight_sum * self.max_level
        if bound > _SIGNED_LIMIT:
            raise RingOverflowError(bound, _SIGNED_LIMIT)

    @property
    def scale(self) -> float:
        """2**scale_bits."""
        return float(2**self.scale_bits)

    @property
    def max_level(self) -> int:
        """The largest absolute quantized coordinate before weighting."""
        return round(self.clip * self.scale)

    @property
    def max_error(self) -> float:
        """The stated quantization error of the decoded mean, per coordinate (before the final
        float32 cast)."""
        return 0.5 / self.scale


def quantize(values: npt.NDArray[np.floating[Any]], weight: int, params: RingParams) -> RingVector:
    """`weight * rint(clip(values) * scale)` as ring elements (a fresh uint64 array)."""
    if weight < 1:
        raise SecAggParamsError(f"a weight must be >= 1, got {weight}")
    if weight > params.max_weight_sum:
        raise RingOverflowError(weight * params.max_level, _SIGNED_LIMIT)
    flat = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(flat)):
        raise SecAggParamsError("an update holds NaN or infinite values")
    levels = np.rint(np.clip(flat, -params.clip, params.clip) * params.scale).astype(np.int64)
    ring: RingVector = (levels * np.int64(weight)).view(np.uint64)
    return ring


def ring_sum(vectors: list[RingVector]) -> RingVector:
    """The element-wise sum modulo 2**64 (uint64 addition wraps)."""
    if not vectors:
        raise SecAggParamsError("nothing to sum")
    total = vectors[0].copy()
    for vector in vectors[1:]:
        np.add(total, vector, out=total)
    return total


def to_signed(vector: RingVector) -> npt.NDArray[np.int64]:
    """Ring elements read as two's-complement signed integers."""
    return vector.view(np.int64)


def dequantize_mean(
    total: RingVector, weight_sum: int, params: RingParams
) -> npt.NDArray[np.float32]:
    """The weighted mean of the clipped updates from the unmasked sum of their encodings."""
    if not 1 <= weight_sum <= params.max_weight_sum:
        raise RingOverflowError(weight_sum * params.max_level, _SIGNED_LIMIT)
    return (to_signed(total).astype(np.float64) / (params.scale * weight_sum)).astype(np.float32)
