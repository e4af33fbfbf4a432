"""The consent index with scopes: masks by a study's purpose, keeps a narrowed consent's validity
period, honours `valid_from`, and stores it all across a reopen (SQLite schema 2)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from consent.events import ConsentGranted, EventPosition, PurposesRevoked
from consent.ids import Address, study_id
from consent.index import ConsentIndex
from consent.index_store import IndexSchemaError
from consent.purposes import HMB, ConsentScope, StudyPurpose

STUDY = study_id("index-purposes")
HOSPITAL = Address("0x" + "64" * 20)
HMB_AND_CANCER = ConsentScope.parse(["HMB", "DS-CANCER"]).mask
DS_CANCER = ConsentScope.parse(["DS-CANCER"]).mask
HMB_STUDY = StudyPurpose(HMB)


def _patient(i: int) -> Address:
    return Address("0x" + f"{i + 1:040x}")


def _grant(
    i: int, block: int, purposes: int, *, expires: int = 0, start: int = 0
) -> ConsentGranted:
    return ConsentGranted(
        STUDY, _patient(i), HOSPITAL, expires, 0, EventPosition(block, i), "0x" + "aa" * 32,
        1_000 + block, purposes, start,
    )  # fmt: skip


def _narrow(i: int, block: int, revoked: int, remaining: int) -> PurposesRevoked:
    return PurposesRevoked(
        STUDY, _patient(i), HOSPITAL, revoked, remaining, EventPosition(block, i),
        "0x" + "bb" * 32, 1_000 + block,
    )  # fmt: skip


def _consented(
    index: ConsentIndex, block: int, ts: int, purpose: StudyPurpose | None
) -> list[bool]:
    return index.consented_at(STUDY, [_patient(i) for i in range(3)], block, ts, purpose).tolist()


def test_only_consents_covering_the_studys_purpose_count() -> None:
    index = ConsentIndex(":memory:")
    index.apply([_grant(0, 1, HMB_AND_CANCER), _grant(1, 1, DS_CANCER), _grant(2, 1, 1)],
                synced_through=1)  # fmt: skip
    assert _consented(index, 1, 2_000, HMB_STUDY) == [True, False, True]
    assert _consented(index, 1, 2_000, StudyPurpose.parse("DS-CANCER")) == [True, True, True]
    assert _consented(index, 1, 2_000, None) == [True, True, True]


def test_a_withdrawal_narrows_from_its_block_and_keeps_the_grants_expiry() -> None:
    index = ConsentIndex(":memory:")
    index.apply([_grant(0, 1, HMB_AND_CANCER, expires=5_000), _grant(1, 1, 1), _grant(2, 1, 1),
                 _narrow(0, 3, HMB.bit, DS_CANCER)], synced_through=3)  # fmt: skip
    assert _consented(index, 2, 2_000, HMB_STUDY)[0] is True
    assert _consented(index, 3, 2_000, HMB_STUDY)[0] is False
    cancer = StudyPurpose.parse("DS-CANCER")
    assert _consented(index, 3, 2_000, cancer)[0] is True
    assert _consented(index, 3, 5_000, cancer)[0] is False  # the grant's expiry still applies
    status = index.status(STUDY, _patient(0))
    assert status.scope == ConsentScope.from_mask(DS_CANCER)
    assert status.revoked_block is None
    assert index.revoked_since(STUDY, HOSPITAL, 2) == (_patient(0),)


def test_a_consent_counts_only_from_its_valid_from() -> None:
    index = ConsentIndex(":memory:")
    index.apply([_grant(0, 1, 1, start=3_000), _grant(1, 1, 1), _grant(2, 1, 1)], synced_through=1)
    assert _consented(index, 1, 2_999, None) == [False, True, True]
    assert _consented(index, 1, 3_000, None) == [True, True, True]


def test_purposes_and_narrowings_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite"
    with ConsentIndex(path) as index:
        index.apply([_grant(0, 1, HMB_AND_CANCER, expires=5_000),
                     _narrow(0, 3, HMB.bit, DS_CANCER)], synced_through=3)  # fmt: skip
        history = index.history(STUDY, _patient(0))
    with ConsentIndex(path) as reopened:
        assert reopened.history(STUDY, _patient(0)) == history
        mask = reopened.mask(STUDY, reopened.resolve([_patient(0)]), 3, 2_000,
                             StudyPurpose.parse("DS-CANCER"))  # fmt: skip
        assert mask.consented.tolist() == [True]
        late = reopened.mask(STUDY, reopened.resolve([_patient(0)]), 3, 5_000, None)
        assert not np.any(late.consented)


def test_an_index_file_of_the_schema_before_scopes_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    ConsentIndex(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = 1 WHERE key = 'schema'")
    with pytest.raises(IndexSchemaError, match="delete the index file"):
        ConsentIndex(path)
