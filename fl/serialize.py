"""Tensors to bytes and back with safetensors: no pickle, deterministic, checked on load.

Artifacts come from a shared network, so loading must never run code (pickle would) and must
refuse anything that is not exactly the expected tensors. safetensors writes tensors in a fixed
order, but it writes its metadata map in hash order; so all our metadata goes into one entry
(`consentfl`) holding canonical JSON, which keeps equal inputs byte-for-byte equal.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from typing import Final

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from fl.errors import FlError, ModelStateError

__all__ = [
    "DEFAULT_MAX_BYTES",
    "METADATA_KEY",
    "ArtifactFormatError",
    "bytes_to_state_dict",
    "read_metadata",
    "state_dict_to_bytes",
]

METADATA_KEY: Final = "consentfl"
"""The one safetensors metadata entry we write: canonical JSON of the caller's metadata."""
DEFAULT_MAX_BYTES: Final = 2 * 1024**3
"""Largest artifact `bytes_to_state_dict` accepts unless told otherwise."""
_MAX_HEADER: Final = 100 * 1024 * 1024  # safetensors' own limit on the JSON header


class ArtifactFormatError(FlError, ValueError):
    """Bytes that are not a well-formed safetensors artifact (or exceed the size limit)."""


def state_dict_to_bytes(
    state: Mapping[str, torch.Tensor], *, metadata: Mapping[str, str] | None = None
) -> bytes:
    """safetensors bytes of `state` (on CPU, contiguous); equal inputs give equal bytes."""
    tensors: dict[str, torch.Tensor] = {}
    storages: set[int] = set()
    for name, tensor in state.items():
        if not isinstance(name, str) or not isinstance(tensor, torch.Tensor):
            raise ArtifactFormatError(f"state entry {name!r} is not a str -> Tensor pair")
        value = tensor.detach().to("cpu").contiguous()
        # safetensors refuses tensors that share storage (tied weights); give each its own.
        if value.numel() and value.untyped_storage().data_ptr() in storages:
            value = value.clone()
        storages.add(value.untyped_storage().data_ptr())
        tensors[name] = value
    extra = None
    if metadata:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise ArtifactFormatError("metadata keys and values must be strings")
        extra = {METADATA_KEY: json.dumps(dict(metadata), sort_keys=True, separators=(",", ":"))}
    try:
        return bytes(st_save(tensors, metadata=extra))
    except (SafetensorError, RuntimeError, ValueError) as exc:
        raise ArtifactFormatError(f"cannot serialize state: {exc}") from exc


def _header(data: bytes) -> dict[str, object]:
    if len(data) < 8:
        raise ArtifactFormatError("shorter than a safetensors header")
    (length,) = struct.unpack("<Q", data[:8])
    if length > min(_MAX_HEADER, len(data) - 8):
        raise ArtifactFormatError(f"header length {length} exceeds the data")
    try:
        header = json.loads(data[8 : 8 + length])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactFormatError("header is not JSON") from exc
    if not isinstance(header, dict):
        raise ArtifactFormatError("header is not a JSON object")
    return header


def read_metadata(data: bytes) -> dict[str, str]:
    """The metadata `state_dict_to_bytes` stored, without loading any tensor."""
    stored = _header(data).get("__metadata__") or {}
    if not isinstance(stored, dict) or METADATA_KEY not in stored:
        return {}
    try:
        decoded = json.loads(stored[METADATA_KEY])
    except (TypeError, json.JSONDecodeError) as exc:
        raise ArtifactFormatError("metadata is not JSON") from exc
    if not isinstance(decoded, dict) or not all(isinstance(v, str) for v in decoded.values()):
        raise ArtifactFormatError("metadata is not a string map")
    return {str(k): v for k, v in decoded.items()}


def bytes_to_state_dict(
    data: bytes,
    *,
    expected: Mapping[str, torch.Tensor] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> dict[str, torch.Tensor]:
    """Tensors from safetensors bytes, refusing oversize or malformed input.

    With `expected` (e.g. the round's base model), the names, shapes and dtypes must match it
    exactly, otherwise `ModelStateError`.
    """
    if len(data) > max_bytes:
        raise ArtifactFormatError(f"artifact of {len(data)} bytes exceeds the {max_bytes} limit")
    _header(data)
    try:
        state = st_load(data)
    except (SafetensorError, RuntimeError, ValueError) as exc:
        raise ArtifactFormatError(f"not a valid safetensors artifact: {exc}") from exc
    if expected is not None:
        _check_fits(state, expected)
    return state


def _check_fits(state: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor]) -> None:
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if missing or extra:
        raise ModelStateError(f"tensor names differ: missing {missing}, unexpected {extra}")
    for name, reference in expected.items():
        got = state[name]
        if got.shape != reference.shape or got.dtype != reference.dtype:
            raise ModelStateError(
                f"tensor {name!r} is {got.dtype} {tuple(got.shape)}, "
                f"expected {reference.dtype} {tuple(reference.shape)}"
            )
