"""Pure maths on state dicts: deltas, their weighted mean, applying a delta. No I/O, no state.

Every function validates its inputs (same keys, shapes and dtypes; floating point; finite values)
and raises `AggregationError` naming the offending update and tensor. Inputs are never modified:
results are new tensors. Sums are accumulated in float64 and cast back to each tensor's dtype.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from fl.errors import AggregationError

__all__ = ["StateDict", "apply_delta", "check_compatible", "state_delta", "weighted_mean"]

StateDict = Mapping[str, Tensor]


def check_compatible(reference: StateDict, other: StateDict, *, index: int | None = None) -> None:
    """Raise `AggregationError` unless `other` has `reference`'s keys, shapes and dtypes, all
    floating point, with finite values. `index` names `other`'s position in the error."""
    where = "" if index is None else f"update {index}: "
    if set(other) != set(reference):
        missing, extra = sorted(set(reference) - set(other)), sorted(set(other) - set(reference))
        raise AggregationError(f"{where}keys differ: missing {missing}, extra {extra}", index=index)
    for key, ref in reference.items():
        tensor = other[key]
        if not isinstance(tensor, Tensor):
            raise AggregationError(f"{where}{key!r} is not a tensor", index=index, key=key)
        if tensor.shape != ref.shape or tensor.dtype != ref.dtype:
            raise AggregationError(
                f"{where}{key!r} is {tensor.dtype} {tuple(tensor.shape)}, "
                f"expected {ref.dtype} {tuple(ref.shape)}",
                index=index,
                key=key,
            )
        if not tensor.is_floating_point():
            raise AggregationError(f"{where}{key!r} is not floating point", index=index, key=key)
        if not bool(torch.isfinite(tensor).all()):
            raise AggregationError(f"{where}{key!r} has non-finite values", index=index, key=key)


def weighted_mean(deltas: Sequence[StateDict], weights: Sequence[float]) -> dict[str, Tensor]:
    """sum_i w_i * delta_i / sum_i w_i, tensor by tensor.

    Requires at least one delta, one weight per delta, every weight finite and >= 0, and not all
    weights zero.
    """
    if not deltas:
        raise AggregationError("nothing to aggregate: no updates")
    if len(weights) != len(deltas):
        raise AggregationError(f"{len(deltas)} updates but {len(weights)} weights")
    for i, weight in enumerate(weights):
        if not (isinstance(weight, int | float) and math.isfinite(weight) and weight >= 0):
            raise AggregationError(f"weight {i} must be finite and >= 0, got {weight!r}", index=i)
    total = math.fsum(float(w) for w in weights)
    if total <= 0:
        raise AggregationError("all weights are zero")
    reference = deltas[0]
    for i, delta in enumerate(deltas):
        check_compatible(reference, delta, index=i)
    result: dict[str, Tensor] = {}
    for key, ref in reference.items():
        acc = torch.zeros(ref.shape, dtype=torch.float64)
        for delta, weight in zip(deltas, weights, strict=True):
            if weight:
                acc.add_(delta[key].to(torch.float64), alpha=float(weight) / total)
        result[key] = acc.to(ref.dtype)
    return result


def apply_delta(base: StateDict, delta: StateDict, *, scale: float = 1.0) -> dict[str, Tensor]:
    """base + scale * delta, as new tensors."""
    if not math.isfinite(scale):
        raise AggregationError(f"scale must be finite, got {scale!r}")
    check_compatible(base, base)
    check_compatible(base, delta)
    return {
        key: (base[key].to(torch.float64) + scale * delta[key].to(torch.float64)).to(ref.dtype)
        for key, ref in base.items()
    }


def state_delta(trained: StateDict, base: StateDict) -> dict[str, Tensor]:
    """trained - base, as new tensors: the update a hospital publishes."""
    check_compatible(base, base)
    check_compatible(base, trained)
    return {key: trained[key] - base[key] for key in base}
