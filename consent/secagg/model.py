"""From a flat secure-aggregated mean back to a model, the same way for the aggregator and the
audit (so the audit can check the finalized model bit for bit).

Layout: the base model's float32 tensors in sorted name order, each flattened in C order. The
aggregate of a round is `base + mean` per tensor, computed in float32 with numpy (the sgd-delta
learner ships `trained - base`; FedAvg of deltas added to the base is the FedAvg of the models).
The model file is safetensors with the tensors only (no metadata), so equal models are equal
bytes.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
from safetensors.numpy import load, save

from consent.secagg.errors import SecAggParamsError

__all__ = ["apply_mean", "flatten", "load_tensors", "model_bytes"]

Tensors = Mapping[str, npt.NDArray[np.float32]]


def load_tensors(data: bytes) -> dict[str, npt.NDArray[np.float32]]:
    """The float32 tensors of a safetensors file; raises `SecAggParamsError` otherwise."""
    try:
        tensors = load(data)
    except Exception as exc:  # safetensors raises its own error type for malformed bytes
        raise SecAggParamsError(f"not a safetensors model: {exc}") from exc
    if any(t.dtype != np.float32 for t in tensors.values()):
        raise SecAggParamsError("secagg models and updates are float32 only")
    return dict(tensors)


def flatten(tensors: Tensors) -> npt.NDArray[np.float32]:
    """All tensors in sorted name order as one vector."""
    return np.concatenate([np.asarray(tensors[n], np.float32).ravel() for n in sorted(tensors)])


def apply_mean(base: Tensors, mean: npt.NDArray[np.float32]) -> dict[str, npt.NDArray[np.float32]]:
    """`base + mean` tensor by tensor (float32)."""
    total = sum(int(np.asarray(t).size) for t in base.values())
    if mean.shape != (total,):
        raise SecAggParamsError(f"a mean of {mean.shape[0]} values for a model of {total}")
    out: dict[str, npt.NDArray[np.float32]] = {}
    offset = 0
    for name in sorted(base):
        tensor = np.asarray(base[name], np.float32)
        part = mean[offset : offset + tensor.size].reshape(tensor.shape)
        out[name] = np.add(tensor, part, dtype=np.float32)
        offset += tensor.size
    return out


def model_bytes(tensors: Tensors) -> bytes:
    """The canonical safetensors bytes of a model (no metadata)."""
    return save({name: np.ascontiguousarray(tensors[name]) for name in sorted(tensors)})
