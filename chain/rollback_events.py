"""The RoundLedger's `RollbackRecorded` log decoded (issue 16): a round recorded as a rollback
to an earlier round's base model, with the revoking patients and the shards it retrains."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from chain.event_args import Builder, Timestamp, study_arg
from consent.events import EventPosition
from consent.ids import Address, StudyId, parse_address

__all__ = ["ROLLBACK_BUILDERS", "RollbackRecorded"]


@dataclass(frozen=True, slots=True)
class RollbackRecorded:
    """The aggregator recorded `round` as a rollback to `base_round`'s base model (issue 16)."""

    study: StudyId
    round: int
    base_round: int
    reason: str
    patients: tuple[Address, ...]
    position: EventPosition
    tx_hash: str
    shards: int = 1
    shard_mask: int = 1
    """The shards the rollback retrains (bit `s` for shard `s`) of the study's `shards`."""


def _recorded(a: Mapping[str, Any], p: EventPosition, h: str, _t: Timestamp) -> RollbackRecorded:
    return RollbackRecorded(
        study_arg(a),
        int(a["round"]),
        int(a["baseRound"]),
        str(a["reason"]),
        tuple(parse_address(x) for x in a["patients"]),
        p,
        h,
        int(a["shards"]),
        int(a["shardMask"]),
    )


ROLLBACK_BUILDERS: Final[Mapping[str, Builder[RollbackRecorded]]] = {"RollbackRecorded": _recorded}
