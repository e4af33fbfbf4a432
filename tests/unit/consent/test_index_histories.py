"""`ConsentIndex.histories` (one query for many patients) against `history` (one per patient)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import pytest

from consent.events import (
    ConsentEvent,
    ConsentGranted,
    ConsentRevoked,
    EventPosition,
    PurposesRevoked,
)
from consent.ids import Address, StudyId, parse_address, study_id
from consent.index import ConsentIndex
from consent.purposes import GRU_BIT, HMB_BIT, METHODS_BIT, NMDS_BIT

STUDIES = (study_id("bulk-alpha"), study_id("bulk-beta"))
HOSPITALS = tuple(parse_address(f"0x{0xA0 + i:040x}") for i in range(3))
_SCOPES = (GRU_BIT, HMB_BIT, HMB_BIT | NMDS_BIT, GRU_BIT | METHODS_BIT, HMB_BIT | METHODS_BIT)


def patient(i: int) -> Address:
    return parse_address(f"0x{0xC0FFEE0000 + i:040x}")


@dataclass(frozen=True)
class RandomWorld:
    """Random consent events of `patients` in `STUDIES`; the last `silent` patients have none."""

    events: list[ConsentEvent]
    patients: tuple[Address, ...]
    silent: int


class _Events:
    """The events of one block, positioned in order."""

    def __init__(self, rng: random.Random, block: int, out: list[ConsentEvent]) -> None:
        self.rng, self.block, self.ts, self.log, self.out = (
            rng,
            block,
            1_700_000_000 + 12 * block,
            0,
            out,
        )

    def _at(self) -> tuple[EventPosition, str]:
        self.log += 1
        return EventPosition(self.block, self.log), f"0x{self.block:032x}{self.log:032x}"

    def grant(self, study: StudyId, who: Address, hospital: Address) -> int:
        position, tx = self._at()
        rng, ts = self.rng, self.ts
        scope = rng.choice(_SCOPES)
        expires = rng.choice((0, 0, ts + rng.randint(1, 2_000)))
        valid_from = rng.choice((0, 0, ts + rng.randint(0, 500)))
        self.out.append(
            ConsentGranted(
                study, who, hospital, expires, rng.randint(0, 99), position, tx, ts, scope,
                valid_from,
            )
        )  # fmt: skip
        return scope

    def revoke(self, study: StudyId, who: Address, hospital: Address) -> None:
        position, tx = self._at()
        self.out.append(ConsentRevoked(study, who, hospital, position, tx, self.ts))

    def narrow(self, study: StudyId, who: Address, hospital: Address, scope: int) -> int:
        dropped = scope & -scope  # the lowest purpose bit
        position, tx = self._at()
        left = scope ^ dropped
        self.out.append(PurposesRevoked(study, who, hospital, dropped, left, position, tx, self.ts))
        return left


def random_world(seed: int, patients: int = 40, blocks: int = 150, silent: int = 5) -> RandomWorld:
    """Grants (with and without validity periods, various purposes), revocations, narrowings and
    moves between hospitals, in chain order (several events per block)."""
    rng = random.Random(seed)
    people = tuple(patient(i) for i in range(patients))
    state: dict[tuple[StudyId, Address], tuple[Address, int] | None] = {}  # (hospital, scope)
    events: list[ConsentEvent] = []
    for block in range(1, blocks + 1):
        make = _Events(rng, block, events)
        for _ in range(rng.randint(1, 4)):
            study, who = rng.choice(STUDIES), rng.choice(people[: patients - silent])
            held = state.get((study, who))
            if held is None:
                hospital = rng.choice(HOSPITALS)
                state[(study, who)] = (hospital, make.grant(study, who, hospital))
                continue
            hospital, scope = held
            action = rng.random()
            if action < 0.35:
                make.revoke(study, who, hospital)
                state[(study, who)] = None
            elif action < 0.6 and scope & (scope - 1):
                state[(study, who)] = (hospital, make.narrow(study, who, hospital, scope))
            elif action < 0.8:  # a move: revoke at the old hospital, grant to another
                make.revoke(study, who, hospital)
                moved = rng.choice([h for h in HOSPITALS if h != hospital])
                state[(study, who)] = (moved, make.grant(study, who, moved))
            else:  # a re-grant with a new scope or period
                state[(study, who)] = (hospital, make.grant(study, who, hospital))
    return RandomWorld(events, people, silent)


@pytest.mark.parametrize("seed", range(8))
def test_histories_equal_history_for_every_patient(seed: int) -> None:
    world = random_world(seed)
    kinds = {type(e) for e in world.events}
    assert kinds == {ConsentGranted, ConsentRevoked, PurposesRevoked}
    grants = [e for e in world.events if isinstance(e, ConsentGranted)]
    assert any(g.expires_at for g in grants)
    assert any(g.valid_from for g in grants)
    with ConsentIndex(":memory:") as index:
        index.apply(world.events)
        strangers = [patient(1_000 + i) for i in range(3)]  # never seen by the index
        asked = [*world.patients, *strangers]
        for study in (*STUDIES, study_id("bulk-empty")):
            bulk = index.histories(study, asked)
            assert list(bulk) == asked
            for who in asked:
                assert bulk[who] == index.history(study, who)
            assert all(bulk[p] == [] for p in strangers + list(world.patients[-world.silent :]))
            for hospital in HOSPITALS:
                mine = index.patients(study, hospital)
                assert index.histories(study, mine) == {p: index.history(study, p) for p in mine}
        assert sum(len(v) for s in STUDIES for v in index.histories(s, asked).values()) == len(
            world.events
        )


def test_histories_match_any_spelling_and_empty_requests() -> None:
    world = random_world(99, patients=10, blocks=30, silent=0)
    with ConsentIndex(":memory:") as index:
        index.apply(world.events)
        study = STUDIES[0]
        lower = [p.lower() for p in world.patients]
        bulk = index.histories(study, lower)
        assert list(bulk) == list(world.patients)  # keyed by the checksummed address
        assert all(bulk[p] == index.history(study, p.lower()) for p in world.patients)
        assert index.histories(study, []) == {}
        assert index.histories(study, iter(world.patients[:2])) == {
            p: index.history(study, p) for p in world.patients[:2]
        }


def test_histories_survive_a_reopen(tmp_path: Path) -> None:
    world = random_world(7, patients=20, blocks=60, silent=2)
    path = tmp_path / "index.sqlite"
    with ConsentIndex(path) as index:
        index.apply(world.events)
        before = index.histories(STUDIES[1], world.patients)
    with ConsentIndex(path) as reopened:
        assert reopened.histories(STUDIES[1], world.patients) == before
