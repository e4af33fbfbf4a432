"""A model's lineage and the revocations that taint it (issue 16), pure and shared: the aggregator
(`fl.roles.unlearning`) decides its rollbacks with it, the audit's `lineage` check verifies them
and the API tells the patient.

A round's model descends from its base. An ordinary round `r`'s base is round `r - 1`'s model; a
rollback round (`RollbackRecord`, recorded on chain by the `Rollbacks` contract) restarts from the
base model of an earlier round `base_round`, so `base_round` and every round after it up to the
rollback drop out. `lineage(head)` lists, oldest first, the rounds whose training the head's model
carries.

A revocation of patient `p` at hospital `H` (block `v`) taints an update of `H` computed over a
consent view at block `c` (its `consent_block`) when `p`'s consent with `H` counted at `c`:
granted at or before `c` and revoked after it. Whether `p`'s rows were really under the update's
`dataRoot` only the hospital knows, so the aggregator treats every such update as carrying `p`
(never optimistic); a round with a tainted update taints the lineage from there on.

SISA shards (the plan's `revocation.shards` = S > 1, `fl.learners.sharded`): a round's model is a
bundle of S sub-models, and patient `p`'s rows train only sub-model `shard_of(p, S)` (a function
of the address alone, so the plan's S commits every patient's shard). Each shard has its own
lineage (`shard_lineages`). A rollback names the shards it retrains (`shard_mask`): those enter
the rollback round with what they had entering `base_round`, the others with what they had after
the previous round. The shards that train in a round are the lagging ones (entering with fewer
lineage rounds than the most trained shard), or all of them when none lags: after a rollback the
retrained shards catch up alone, each round costing about 1/S of a full one. With S = 1 this is
`lineage`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from consent.events import ConsentEvent, ConsentGranted, ConsentRevoked
from consent.ids import Address
from consent.records import RoundRecord
from consent.rounds import UpdateRecord

__all__ = [
    "ROUNDS_KEY",
    "Revocation",
    "RollbackRecord",
    "active_shards",
    "entering_lineages",
    "every_shard",
    "first_tainted",
    "lineage",
    "revocations_of",
    "shard_lineages",
    "shard_of",
    "shard_prefix",
    "shards_in",
    "taints",
]


@dataclass(frozen=True, slots=True)
class RollbackRecord:
    """A rollback round's on-chain record (the `Rollbacks` contract)."""

    round: int
    base_round: int
    """The round whose base model the rollback round restarted from (0: the initial model)."""
    reason: str
    patients: tuple[Address, ...]
    """The revoked patients whose revocations the rollback serves."""
    recorded_block: int = 0
    shards: int = 1
    """The study's shard count S (the plan's `revocation.shards`)."""
    shard_mask: int = 1
    """The shards the rollback retrains (bit `s` for shard `s`; `every_shard(S)`: all)."""


ROUNDS_KEY = "sisa.rounds"
"""In a sharded model bundle (`fl.learners.sharded`): per shard, the rounds its lineage carries."""


def shard_prefix(s: int) -> str:
    """The key prefix of shard `s`'s sub-model in a sharded model bundle."""
    return f"shard{s}."


def shard_of(patient: str, shards: int) -> int:
    """The shard of `patient` (an address or record id; case-insensitive) among `shards`:
    SHA-256 of its lower-case text, first 8 bytes big-endian, modulo `shards`."""
    if shards < 1:
        raise ValueError(f"shards must be >= 1, got {shards}")
    digest = hashlib.sha256(patient.lower().encode()).digest()
    return int.from_bytes(digest[:8], "big") % shards


def every_shard(shards: int) -> int:
    """The mask naming all `shards` shards."""
    return (1 << shards) - 1


def shards_in(mask: int) -> tuple[int, ...]:
    """The shards `mask` names, ascending."""
    return tuple(s for s in range(mask.bit_length()) if mask >> s & 1)


@dataclass(frozen=True, slots=True)
class Revocation:
    """One revocation of a consent given to `hospital`, with the grant it ended."""

    patient: Address
    hospital: Address
    block: int
    timestamp: int
    granted_block: int
    """The block of the grant to `hospital` this revocation ended."""


def lineage(head: int, rollbacks: Mapping[int, RollbackRecord]) -> tuple[int, ...]:
    """The rounds whose training round `head`'s model carries, oldest first (empty for -1:
    the initial model). Raises `ValueError` on a rollback whose base is not before it."""
    rounds: list[int] = []
    current = head
    while current >= 0:
        rounds.append(current)
        base = current  # the round whose base `current` was opened on: follow rollbacks
        while (rollback := rollbacks.get(base)) is not None:
            if not 0 <= rollback.base_round < base:
                raise ValueError(f"rollback round {base} has base round {rollback.base_round}")
            base = rollback.base_round
        current = base - 1
    return tuple(reversed(rounds))


Lineages = tuple[tuple[int, ...], ...]
"""Per shard, a sub-model's lineage (rounds, oldest first)."""


def _walk(head: int, rollbacks: Mapping[int, RollbackRecord], shards: int) -> list[Lineages]:
    """Per round up to `head`, the lineages the shards enter it with, then those after `head`."""
    after: Lineages = tuple(() for _ in range(shards))
    entering: list[Lineages] = []
    for round_ in range(head + 1):
        start = after
        rollback = rollbacks.get(round_)
        if rollback is not None:
            if not 0 <= rollback.base_round < round_:
                raise ValueError(f"rollback round {round_} has base round {rollback.base_round}")
            if rollback.shards != shards or not 0 < rollback.shard_mask <= every_shard(shards):
                raise ValueError(
                    f"rollback round {round_} names shards {rollback.shard_mask:#x} of "
                    f"{rollback.shards}, the plan has {shards}"
                )
            back = entering[rollback.base_round]
            start = tuple(
                back[s] if rollback.shard_mask >> s & 1 else start[s] for s in range(shards)
            )
        entering.append(start)
        most = max(len(line) for line in start)
        lagging = {s for s in range(shards) if len(start[s]) < most}
        active = lagging or set(range(shards))
        after = tuple((*line, round_) if s in active else line for s, line in enumerate(start))
    return [*entering, after]


def shard_lineages(head: int, rollbacks: Mapping[int, RollbackRecord], shards: int) -> Lineages:
    """Per shard, the rounds whose training shard `s` of round `head`'s model carries, oldest
    first (see the module docstring). Raises `ValueError` on a rollback whose base is not before
    it or whose shards do not fit `shards`."""
    return _walk(head, rollbacks, shards)[-1]


def entering_lineages(
    round_: int, rollbacks: Mapping[int, RollbackRecord], shards: int
) -> Lineages:
    """Per shard, the lineage of the sub-model round `round_`'s base holds (what a rollback to
    `round_` restores)."""
    return _walk(round_, rollbacks, shards)[round_]


def active_shards(
    round_: int, rollbacks: Mapping[int, RollbackRecord], shards: int
) -> tuple[int, ...]:
    """The shards that train in round `round_` (see the module docstring)."""
    after = shard_lineages(round_, rollbacks, shards)
    return tuple(s for s, line in enumerate(after) if line and line[-1] == round_)


def revocations_of(events: Iterable[ConsentEvent]) -> list[Revocation]:
    """Every revocation in `events` (chain order) with the grant it ended, in chain order."""
    granted: dict[tuple[str, str], int] = {}
    found: list[Revocation] = []
    for event in events:
        key = (event.patient.lower(), event.hospital.lower())
        if isinstance(event, ConsentGranted):
            granted.setdefault(key, event.position.block_number)
        elif isinstance(event, ConsentRevoked) and key in granted:
            found.append(
                Revocation(
                    event.patient,
                    event.hospital,
                    event.position.block_number,
                    event.block_timestamp,
                    granted.pop(key),
                )
            )
    return found


def taints(update: UpdateRecord, revocation: Revocation) -> bool:
    """Whether `update` may carry the revoked patient (see the module docstring)."""
    return (
        update.hospital.lower() == revocation.hospital.lower()
        and revocation.granted_block <= update.consent_block < revocation.block
    )


def first_tainted(
    rounds: Sequence[RoundRecord], revocations: Sequence[Revocation]
) -> tuple[int, tuple[Revocation, ...]] | None:
    """The first of `rounds` (a lineage, oldest first) with an update some of `revocations`
    taints, and every revocation that taints any of `rounds` from there on; None if none does."""
    for position, record in enumerate(rounds):
        if not any(taints(u, r) for u in record.updates for r in revocations):
            continue
        later = rounds[position:]
        served = tuple(
            r for r in revocations if any(taints(u, r) for rec in later for u in rec.updates)
        )
        return record.round, served
    return None
