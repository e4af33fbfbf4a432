"""PatientRows: vectorised, case-insensitive address -> row look-ups without a dictionary."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consent.index_patients import ADDRESS_LEN, PatientRows

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
        ([A[:-1], "," + C], [-1, -1]),  # the seam's comma moved on: the 2nd row reads exactly C
        ([C, A[:-1], "," + C, A], [1, -1, -1, 0]),  # the same between two true addresses
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


# --- the open-addressing table (session 7) ---------------------------------------------------

SUFFIX = "deadbeef" * 2  # the last 16 hex digits: what the table's hash reads


def _with_suffix(prefix: str, suffix: str = SUFFIX) -> str:
    return "0x" + prefix + suffix


def test_addresses_with_equal_hash_keys_resolve_to_their_own_rows() -> None:
    """Equal last 16 hex digits (in any case) mean equal hashes: the same first slot and tag;
    each look-up is confirmed on all 40 digits, so a key collision is never a wrong row."""
    first = _with_suffix("11" * 12)
    second = _with_suffix("22" * 12, SUFFIX.upper())
    third = _with_suffix("33" * 12)
    rows = PatientRows([first, second, third])
    stranger = _with_suffix("44" * 12)  # same key, never added
    assert rows.lookup(
        [third, stranger, second.lower(), first.upper().replace("0X", "0x")]
    ).tolist() == [
        2,
        -1,
        1,
        0,
    ]


def test_a_long_run_of_colliding_keys_is_probed_to_its_end() -> None:
    crowd = [_with_suffix(f"{i:024x}") for i in range(300)]
    rows = PatientRows(crowd[:200])
    rows.add(crowd[200:])
    assert rows.lookup(crowd[::-1]).tolist() == list(range(299, -1, -1))
    assert rows.row(_with_suffix(f"{999:024x}")) == -1


@pytest.mark.parametrize(
    "forged",
    [
        "0x" + "\x11" * 40,  # control bytes 0x11: `| 0x20` would read them as "1"
        "0x" + "\x11" * 20 + "1" * 20,
        "0x" + "1" * 39 + "\x11",
        "\x10x" + "1" * 40,  # prefix "\x10x": `| 0x20` would read "0x"
        "0x" + "Q" * 40,
        "0y" + "1" * 40,
        "1x" + "1" * 40,
    ],
)
def test_bytes_that_only_lower_case_to_the_address_are_not_it(forged: str) -> None:
    """Case-folding sets 0x20 only in bytes that have 0x40 (letters; a plain `| 0x20` would
    turn the control byte 0x11 into the digit "1", and "\\x10" into the "0" of the prefix), and
    the table's hash does use `| 0x20`: a malformed address is a miss all the same."""
    stored = "0x" + "1" * 40
    rows = PatientRows([stored])
    assert rows.lookup([forged, stored, forged]).tolist() == [-1, 0, -1]


def test_every_case_of_every_letter_matches_and_the_prefix_may_be_0X() -> None:
    rows = PatientRows([C, A])
    variants = [C, C.lower(), "0X" + C[2:].upper(), "0x" + C[2:].swapcase(), "0X" + A[2:].upper()]
    assert rows.lookup(variants).tolist() == [0, 0, 0, 0, 1]


def test_duplicates_in_the_query_all_resolve() -> None:
    rows = PatientRows([A, C])
    assert (
        rows.lookup([C, C, A, C.lower(), A, "0x" + "00" * 20] * 3).tolist()
        == [1, 1, 0, 1, 0, -1] * 3
    )


def test_an_address_stored_twice_answers_its_first_row() -> None:
    rows = PatientRows([C.lower(), A, C])
    rows.add([A.upper().replace("0X", "0x")])
    assert rows.lookup([C, A]).tolist() == [0, 1]


def test_empty_inputs() -> None:
    assert PatientRows([]).lookup([A, "x"]).tolist() == [-1, -1]
    assert PatientRows([A]).lookup([]).tolist() == []
    assert PatientRows(np.empty(0, dtype="S42")).lookup([]).tolist() == []


def test_stored_addresses_must_be_0x_and_42_ascii_characters() -> None:
    for bad in (["0X" + "ab" * 20], ["1x" + "ab" * 20], ["0x" + "ab" * 19], ["0x" + "é" * 40]):
        with pytest.raises(ValueError, match="patient addresses"):
            PatientRows(bad)


def test_stored_addresses_from_an_array_must_not_hold_a_comma() -> None:
    """The look-up proves a list's entries are 42 characters long from the confirmed rows (a
    stored address has no comma), so a snapshot's array with a comma is refused."""
    with pytest.raises(ValueError, match="no comma"):
        PatientRows(np.array([A, "0x" + "ab" * 19 + ",b"], dtype="S42"))


def test_a_comma_inside_a_measured_entry_is_a_miss_not_a_separator() -> None:
    """A list with one non-string entry takes the slow path, where the entries are measured
    one by one; an entry of 42 characters holding commas is then just not an address."""
    rows = PatientRows([A, C])
    query: list[Any] = [None, "0x" + "," * 40, A[:20] + "," + A[21:], C]
    assert rows.lookup(query).tolist() == [-1, -1, -1, 1]


def test_more_addresses_than_the_table_was_built_for_grow_it() -> None:
    rng = np.random.default_rng(11)
    addresses = ["0x" + bytes(r).hex() for r in rng.integers(0, 256, (3_000, 20), dtype=np.uint8)]
    rows = PatientRows(addresses[:10])
    for start in range(10, 3_000, 700):
        end = min(start + 700, 3_000)
        rows.add(addresses[start:end])
        assert rows.lookup(addresses[:end]).tolist() == list(range(end))


_PARTS = ("00" * 12, "ab" * 12, "Cd" * 12, "0123456789abcdefABCDEF00")
_TAILS = ("00" * 8, "fe" * 8, "FE" * 8, "0123456789aBcDeF")


def _address_strategy() -> st.SearchStrategy[str]:
    """Addresses from a few parts, so that equal hash keys (tails) and equal addresses in
    another case are common."""
    return st.builds(lambda p, t: "0x" + p + t, st.sampled_from(_PARTS), st.sampled_from(_TAILS))


def _query_strategy() -> st.SearchStrategy[Any]:
    recased = st.builds(
        lambda a, how: {"lower": a.lower(), "upper": "0x" + a[2:].upper(), "0X": "0X" + a[2:],
                        "same": a}[how],
        _address_strategy(),
        st.sampled_from(["lower", "upper", "0X", "same"]),
    )  # fmt: skip
    broken = st.builds(
        lambda a, at, c: a[:at] + c + a[at + 1 :],
        _address_strategy(),
        st.integers(0, ADDRESS_LEN - 1),
        st.sampled_from(["\x11", "g", ",", "é", "X", " "]),
    )
    other = st.one_of(
        st.none(), st.integers(), st.text(max_size=50), st.sampled_from([A[:-1], A + "0"])
    )
    return st.one_of(recased, broken, other)


@settings(max_examples=300, deadline=None)
@given(
    stored=st.lists(_address_strategy(), max_size=30),
    added=st.lists(_address_strategy(), max_size=10),
    query=st.lists(_query_strategy(), max_size=40),
)
def test_look_ups_agree_with_a_plain_dictionary(
    stored: list[str], added: list[str], query: list[Any]
) -> None:
    """The table against a dict of lower-cased addresses (first row wins): any case, any order,
    duplicates, collisions, malformed entries and non-strings."""
    rows = PatientRows(stored)
    rows.add(added)
    first: dict[str, int] = {}
    for i, address in enumerate(stored + added):
        first.setdefault(address.lower(), i)
    expected = [
        first.get(q.lower(), -1) if isinstance(q, str) and q.isascii() else -1 for q in query
    ]
    assert rows.lookup(query).tolist() == expected
    assert rows.lookup([q for q in query if isinstance(q, str)]).tolist() == [
        e for q, e in zip(query, expected, strict=True) if isinstance(q, str)
    ]
