"""The exclusion check folds the consent history once per (cut, hospital): it must name exactly
the patients, reasons and order that one pass over the history per update names.

`_one_pass` is the check's former per-update loop, kept here as the reference; random histories
(grants with and without validity periods, revocations, purpose withdrawals, several hospitals,
events in chain order and, once, out of it) and random updates are run through both.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence

import pytest

from chain.audit.exclusion import _Folds
from consent.events import ConsentGranted, ConsentRevoked, EventPosition, PurposesRevoked
from consent.ids import Address, Bytes32, StudyId
from consent.purposes import GRU_BIT, HMB, HMB_BIT, StudyPurpose
from consent.rounds import UpdateRecord

ConsentEvent = ConsentGranted | ConsentRevoked | PurposesRevoked
HOSPITALS = [Address("0x" + f"{i:040x}") for i in (0xA1, 0xB2, 0xC3)]
PATIENTS = [Address("0x" + f"{i:040X}") for i in range(1, 13)]
STUDY = StudyId(Bytes32(bytes(32)))


def _one_pass(
    events: Sequence[ConsentEvent],
    purpose: StudyPurpose | None,
    update: UpdateRecord,
    submitted_at: int | None,
) -> dict[str, tuple[Address, str]]:
    excluded: dict[str, tuple[Address, str]] = {}
    latest: dict[str, ConsentGranted | ConsentRevoked] = {}
    for event in events:
        if event.position.block_number > update.consent_block:
            break
        key = event.patient.lower()
        if not isinstance(event, PurposesRevoked):
            latest[key] = event
        if event.hospital != update.hospital:
            continue
        mask = (
            event.purposes if isinstance(event, ConsentGranted) else getattr(event, "remaining", 0)
        )
        if isinstance(event, ConsentRevoked):
            excluded[key] = (event.patient, "revoked")
        elif purpose is not None and not purpose.covers_mask(mask):
            excluded[key] = (event.patient, "uncovered")
        elif isinstance(event, ConsentGranted):
            excluded.pop(key, None)
    for key, event in latest.items():
        if not isinstance(event, ConsentGranted) or event.hospital != update.hospital:
            continue
        if submitted_at is None:
            outside = event.expires_at != 0 or event.valid_from != 0
        else:
            expired = event.expires_at != 0 and event.expires_at <= submitted_at
            outside = expired or event.valid_from > submitted_at
        if outside:
            excluded.setdefault(key, (event.patient, "expired"))
    return excluded


def _history(rng: random.Random, length: int) -> list[ConsentEvent]:
    events: list[ConsentEvent] = []
    block = 1
    for i in range(length):
        block += rng.choice((0, 0, 1, 3))
        patient, hospital = rng.choice(PATIENTS), rng.choice(HOSPITALS)
        position = EventPosition(block, i)
        kind = rng.randrange(5)
        if kind <= 2:
            events.append(
                ConsentGranted(
                    STUDY,
                    patient,
                    hospital,
                    expires_at=rng.choice((0, 0, rng.randrange(50, 150))),
                    nonce=i,
                    position=position,
                    tx_hash="0x",
                    block_timestamp=block,
                    purposes=rng.choice((GRU_BIT, HMB_BIT, 1 << 5)),
                    valid_from=rng.choice((0, 0, rng.randrange(50, 150))),
                )
            )
        elif kind == 3:
            events.append(ConsentRevoked(STUDY, patient, hospital, position, "0x", block))
        else:
            remaining = rng.choice((GRU_BIT, 1 << 5))
            events.append(
                PurposesRevoked(STUDY, patient, hospital, HMB_BIT, remaining, position, "0x", block)
            )
    return events


@dataclasses.dataclass
class _View:
    consent_events: Sequence[ConsentEvent]
    study_purpose: StudyPurpose | None


def _update(rng: random.Random, last_block: int) -> UpdateRecord:
    return UpdateRecord(
        hospital=rng.choice(HOSPITALS), update_hash=Bytes32(bytes(32)), update_cid="cid",
        num_samples=1, num_patients=1, data_root=Bytes32(bytes(32)),
        consent_block=rng.randrange(last_block + 3), submitted_block=0,
    )  # fmt: skip


@pytest.mark.parametrize("seed", range(40))
def test_the_folds_name_what_one_pass_per_update_names(seed: int) -> None:
    rng = random.Random(seed)
    events = _history(rng, rng.randrange(60))
    if seed == 7:  # out of chain order: both stop at the first event past the consent block
        rng.shuffle(events)
    purpose = rng.choice((None, StudyPurpose(HMB)))
    last = max((e.position.block_number for e in events), default=0)
    folds = _Folds(_View(events, purpose))  # type: ignore[arg-type]
    for _ in range(30):
        update = _update(rng, last)
        submitted_at = rng.choice((None, rng.randrange(200)))
        got = folds.must_exclude(update, submitted_at)
        want = _one_pass(events, purpose, update, submitted_at)
        assert list(got.items()) == list(want.items())


def test_a_fold_is_not_changed_by_the_expiries_of_one_update() -> None:
    rng = random.Random(3)
    events = _history(rng, 50)
    folds = _Folds(_View(events, None))  # type: ignore[arg-type]
    update = _update(rng, 200)
    first = folds.must_exclude(dataclasses.replace(update, consent_block=10**6), 10**6)
    again = folds.must_exclude(dataclasses.replace(update, consent_block=10**6), None)
    assert again == _one_pass(events, None, dataclasses.replace(update, consent_block=10**6), None)
    assert first == _one_pass(events, None, dataclasses.replace(update, consent_block=10**6), 10**6)
