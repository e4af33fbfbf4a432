from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from fl.data import (
    HospitalDataset,
    RecordDataset,
    attach_patients,
    load_hospital_csv,
    load_record_csv,
    write_hospital_csv,
    write_record_csv,
)
from fl.errors import (
    DataError,
    EmptyDataError,
    MalformedAddressError,
    MissingColumnError,
    NonNumericValueError,
)
from tests.unit.fl.conftest import patient

A1 = "0x" + "ab" * 20
A2 = "0x" + "cd" * 20


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "data.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_hospital_csv_round_trip_preserves_rows_exactly(
    tmp_path: Path, tiny_classification: HospitalDataset
) -> None:
    path = tmp_path / "h.csv"
    write_hospital_csv(tiny_classification, path)

    loaded = load_hospital_csv(path)

    assert loaded.patients == tiny_classification.patients
    assert torch.equal(loaded.features, tiny_classification.features)
    assert torch.equal(loaded.labels, tiny_classification.labels)
    assert loaded.task == "classification"
    assert loaded.feature_names == ("a", "b", "c")


def test_lowercase_patient_address_is_checksummed(tmp_path: Path) -> None:
    path = write(tmp_path, f"patient,x,label\n{A1},1.5,0\n{A2},2,1\n")

    dataset = load_hospital_csv(path)

    assert dataset.patients[0] != A1
    assert dataset.patients[0].lower() == A1
    assert dataset.features.tolist() == [[1.5], [2.0]]


def test_non_binary_labels_infer_regression(tmp_path: Path) -> None:
    path = write(tmp_path, f"patient,x,label\n{A1},1,0.5\n{A2},2,151\n")

    assert load_hospital_csv(path).task == "regression"


def test_explicit_classification_with_non_binary_labels_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, f"patient,x,label\n{A1},1,2\n")

    with pytest.raises(DataError, match="0 or 1") as info:
        load_hospital_csv(path, task="classification")
    assert info.value.column == "label"


@pytest.mark.parametrize("missing", ["patient", "label"])
def test_missing_required_column_is_named(tmp_path: Path, missing: str) -> None:
    columns = [c for c in ("patient", "x", "label") if c != missing]
    path = write(tmp_path, ",".join(columns) + "\n" + ",".join(["1"] * len(columns)) + "\n")

    with pytest.raises(MissingColumnError) as info:
        load_hospital_csv(path)
    assert info.value.column == missing
    assert isinstance(info.value, ValueError)


def test_malformed_address_names_line_and_value(tmp_path: Path) -> None:
    path = write(tmp_path, f"patient,x,label\n{A1},1,0\n0x1234,2,1\n")

    with pytest.raises(MalformedAddressError, match="0x1234") as info:
        load_hospital_csv(path)
    assert info.value.line == 3
    assert info.value.column == "patient"
    assert info.value.path == path


@pytest.mark.parametrize("bad", ["abc", "", "nan", "inf"])
def test_non_numeric_feature_names_line_and_column(tmp_path: Path, bad: str) -> None:
    path = write(tmp_path, f"patient,age,weight,label\n{A1},1,2,0\n{A2},3,{bad},1\n")

    with pytest.raises(NonNumericValueError) as info:
        load_hospital_csv(path)
    assert (info.value.line, info.value.column) == (3, "weight")


def test_non_numeric_label_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, f"patient,x,label\n{A1},1,yes\n")

    with pytest.raises(NonNumericValueError) as info:
        load_hospital_csv(path)
    assert info.value.column == "label"


@pytest.mark.parametrize("text", ["", "\n", "patient,x,label\n"])
def test_empty_file_or_header_only_is_empty_data(tmp_path: Path, text: str) -> None:
    with pytest.raises(EmptyDataError):
        load_hospital_csv(write(tmp_path, text))


def test_row_with_wrong_cell_count_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, f"patient,x,label\n{A1},1,0\n{A2},1\n")

    with pytest.raises(DataError, match="2 cells") as info:
        load_hospital_csv(path)
    assert info.value.line == 3


def test_no_feature_columns_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no feature columns"):
        load_hospital_csv(write(tmp_path, f"patient,label\n{A1},0\n"))


def test_missing_file_is_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot open"):
        load_hospital_csv(tmp_path / "absent.csv")


def test_select_keeps_patients_aligned_with_rows(tiny_classification: HospitalDataset) -> None:
    mask = np.zeros(len(tiny_classification), dtype=np.bool_)
    mask[[3, 8, 39]] = True

    subset = tiny_classification.select(mask)

    assert subset.patients == (patient(1), patient(4), patient(19))
    assert torch.equal(subset.features, tiny_classification.features[[3, 8, 39]])
    assert torch.equal(subset.labels, tiny_classification.labels[[3, 8, 39]])


def test_patient_mask_selects_every_row_of_allowed_patients(
    tiny_classification: HospitalDataset,
) -> None:
    mask = tiny_classification.patient_mask({patient(0), patient(5)})

    assert np.flatnonzero(mask).tolist() == [0, 1, 10, 11]
    assert tiny_classification.select(mask).distinct_patients() == {patient(0), patient(5)}


@pytest.mark.parametrize("mask", [np.ones(40, dtype=np.int64), np.ones(39, dtype=np.bool_)])
def test_select_rejects_non_boolean_or_misshaped_mask(
    tiny_classification: HospitalDataset, mask: np.ndarray
) -> None:
    with pytest.raises(DataError, match="boolean numpy array"):
        tiny_classification.select(mask)


def test_dataset_rejects_misaligned_rows() -> None:
    with pytest.raises(DataError, match="row counts differ"):
        HospitalDataset(
            patients=(patient(0),),
            features=torch.zeros(2, 1),
            labels=torch.zeros(2),
            task="classification",
            feature_names=("x",),
        )


def test_record_csv_round_trip_and_attach_patients(tmp_path: Path) -> None:
    records = RecordDataset(
        record_ids=("r1", "r2"),
        features=torch.tensor([[0.1, -2.5], [3.0, 1e-7]]),
        labels=torch.tensor([1.25, -0.5]),
        task="regression",
        feature_names=("age", "bmi"),
    )
    write_record_csv(records, tmp_path / "r.csv")

    loaded = load_record_csv(tmp_path / "r.csv")
    attached = attach_patients(loaded, {"r2": patient(2), "r1": patient(1)})

    assert loaded.record_ids == ("r1", "r2")
    assert torch.equal(loaded.features, records.features)
    assert torch.equal(loaded.labels, records.labels)
    assert loaded.task == "regression"
    assert attached.patients == (patient(1), patient(2))


def test_attach_patients_without_mapping_for_a_record_fails(tmp_path: Path) -> None:
    records = load_record_csv(write(tmp_path, "record_id,x,label\nr1,1,0\nr2,1,1\n"))

    with pytest.raises(DataError, match="'r2'"):
        attach_patients(records, {"r1": patient(1)})


def test_record_csv_with_duplicate_record_id_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="duplicate record id 'r1'") as info:
        load_record_csv(write(tmp_path, "record_id,x,label\nr1,1,0\nr1,2,1\n"))
    assert info.value.line == 3


def test_record_csv_requires_record_id_column(tmp_path: Path) -> None:
    with pytest.raises(MissingColumnError) as info:
        load_record_csv(write(tmp_path, f"patient,x,label\n{A1},1,0\n"))
    assert info.value.column == "record_id"
