"""PatientRows: vectorised, case-insensitive address -> row look-ups without a dictionary."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from consent.index_patients import PatientRows

A = "0x" + "ab" * 20
B = "0x" + "ab" * 8 + "cd" * 12  # the same 16 leading digits as A: a key collision
C = "0xDeaDbeefdEAdbeefdEadbEEFdeadbeEFdEaDbeeF"


def test_rows_are_found_in_any_case_and_unknowns_are_minus_one() -> None:
    rows = PatientRows([A, C])
    assert rows.lookup(
        [C.lower(), A.upper().replace("0X", "0x"), C, "0x" + "00" * 20]
    ).tolist() == [
        1,
        0,
        1,
        -1,
    ]
    assert rows.row(C.upper().replace("0X", "0x")) == 1
    assert rows.address(1) == C  # kept as given


def test_addresses_sharing_the_sixteen_digit_key_still_resolve_to_their_own_rows() -> None:
    rows = PatientRows([A, B])
    assert rows.lookup([B, A, "0x" + "ab" * 8 + "ef" * 12]).tolist() == [1, 0, -1]


@pytest.mark.parametrize("bad", [None, 7, "0x12", A + "0", "0x" + "zz" * 20, "é" * 42, b"x" * 42])
def test_entries_that_are_not_addresses_are_misses_not_errors(bad: Any) -> None:
    rows = PatientRows([A])
    assert rows.lookup([bad, A]).tolist() == [-1, 0]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ([A[:4], A[4:] + C], [-1, -1]),  # 4 + 80 characters: two addresses long, cut elsewhere
        ([A[:41] + ",", C], [-1, 1]),  # a comma inside an entry (the other is an address)
        ([A + ",", C[:-1]], [-1, -1]),  # lengths off by one each way, a comma at the seam
    ],
)
def test_entries_whose_lengths_only_add_up_are_not_read_as_addresses(
    query: list[str], expected: list[int]
) -> None:
    """The look-up joins the strings and checks the separators instead of measuring each: a
    list of the right total length whose entries are not 42 characters is not split into
    addresses (each entry is then looked up on its own)."""
    rows = PatientRows([A, C])
    assert rows.lookup(query).tolist() == expected


def test_addresses_crowded_in_one_bucket_are_all_found() -> None:
    """Keys whose top bits agree share a bucket; each is found by stepping through it."""
    crowd = ["0x" + "ab" * 4 + f"{i:08x}" + "00" * 12 for i in range(40)]
    rows = PatientRows([*crowd, C])
    assert rows.lookup(
        [*reversed(crowd), C, "0x" + "ab" * 4 + "ffffffff" + "00" * 12]
    ).tolist() == [
        *range(39, -1, -1),
        40,
        -1,
    ]


def test_added_patients_take_the_next_rows_and_are_found_after_the_merge() -> None:
    rows = PatientRows([])
    assert rows.lookup([A]).tolist() == [-1]
    rows.add([C, A])
    rows.add([B])
    assert len(rows) == 3
    assert rows.lookup([A, B, C]).tolist() == [1, 2, 0]
    assert rows.joined() == (C + A + B).encode()


def test_many_rows_resolve_with_the_same_answer_as_a_dictionary() -> None:
    rng = np.random.default_rng(5)
    addresses = ["0x" + bytes(r).hex() for r in rng.integers(0, 256, (20_000, 20), dtype=np.uint8)]
    rows = PatientRows(addresses[:15_000])
    rows.add(addresses[15_000:])
    query = [addresses[i] for i in rng.permutation(20_000)]
    expected = {a: i for i, a in enumerate(addresses)}
    assert rows.lookup(query).tolist() == [expected[a] for a in query]
