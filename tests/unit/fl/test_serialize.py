import struct

import pytest
import torch

from fl.errors import FlError, ModelStateError
from fl.serialize import (
    ArtifactFormatError,
    bytes_to_state_dict,
    read_metadata,
    state_dict_to_bytes,
)


def _state(seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {
        "0.weight": torch.randn(4, 3, generator=generator),
        "0.bias": torch.randn(4, generator=generator),
        "2.weight": torch.randn(1, 4, generator=generator, dtype=torch.float64),
        "steps": torch.tensor([7], dtype=torch.int64),
    }


def test_round_trip_keeps_names_dtypes_and_values() -> None:
    state = _state()

    loaded = bytes_to_state_dict(state_dict_to_bytes(state))

    assert loaded.keys() == state.keys()
    for name, tensor in state.items():
        assert loaded[name].dtype == tensor.dtype
        assert torch.equal(loaded[name], tensor)


def test_equal_tensors_and_metadata_give_identical_bytes() -> None:
    metadata = {f"key{i}": str(i) for i in range(20)}
    reordered = dict(reversed(list(_state().items())))

    first = state_dict_to_bytes(_state(), metadata=metadata)
    second = state_dict_to_bytes(reordered, metadata=dict(reversed(list(metadata.items()))))

    assert first == second


def test_different_values_give_different_bytes() -> None:
    assert state_dict_to_bytes(_state(0)) != state_dict_to_bytes(_state(1))


def test_metadata_round_trips_without_loading_tensors() -> None:
    data = state_dict_to_bytes(_state(), metadata={"round": "3", "study": "0xab"})

    assert read_metadata(data) == {"round": "3", "study": "0xab"}
    assert read_metadata(state_dict_to_bytes(_state())) == {}


def test_non_contiguous_and_tied_tensors_serialize() -> None:
    base = torch.arange(12.0).reshape(3, 4)
    state = {"t": base.t(), "tied_a": base, "tied_b": base}

    loaded = bytes_to_state_dict(state_dict_to_bytes(state))

    assert torch.equal(loaded["t"], base.t())
    assert torch.equal(loaded["tied_b"], base)


def test_bytes_are_a_safetensors_header_then_raw_tensor_data() -> None:
    data = state_dict_to_bytes(_state())
    (header_len,) = struct.unpack("<Q", data[:8])

    assert data[8:9] == b"{"  # a JSON header, not torch.save's zip container
    assert len(data) == 8 + header_len + 4 * 4 * 3 + 4 * 4 + 8 * 4 + 8


def test_load_checks_against_expected_shapes() -> None:
    data = state_dict_to_bytes(_state())
    wrong_shape = {**_state(), "0.bias": torch.zeros(5)}
    wrong_dtype = {**_state(), "steps": torch.zeros(1, dtype=torch.int32)}
    missing_key = {**_state(), "3.weight": torch.zeros(1)}

    assert bytes_to_state_dict(data, expected=_state(5)).keys() == _state().keys()
    for expected in (wrong_shape, wrong_dtype, missing_key):
        with pytest.raises(ModelStateError):
            bytes_to_state_dict(data, expected=expected)


def test_oversize_artifact_is_refused() -> None:
    data = state_dict_to_bytes(_state())

    with pytest.raises(ArtifactFormatError, match="limit"):
        bytes_to_state_dict(data, max_bytes=len(data) - 1)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x01\x02",
        struct.pack("<Q", 1000) + b"{}",
        struct.pack("<Q", 2) + b"[]",
        struct.pack("<Q", 4) + b"nope",
        struct.pack("<Q", 60) + b'{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}    ',
    ],
    ids=["empty", "short", "header past end", "not an object", "not json", "data missing"],
)
def test_malformed_bytes_raise_artifact_format_error(data: bytes) -> None:
    with pytest.raises(ArtifactFormatError) as info:
        bytes_to_state_dict(data)

    assert isinstance(info.value, FlError)


def test_non_tensor_value_is_refused() -> None:
    with pytest.raises(ArtifactFormatError):
        state_dict_to_bytes({"x": [1.0, 2.0]})  # type: ignore[dict-item]
