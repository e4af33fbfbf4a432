"""The RoundLedger's `ContributionsRecorded` log decoded: a finalized round's judgement digest
and per-hospital contribution values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from chain.event_args import Builder, Timestamp, b32, study_arg
from consent.events import EventPosition
from consent.ids import Address, Bytes32, StudyId, parse_address

__all__ = ["CONTRIBUTIONS_BUILDERS", "ContributionsRecorded"]


@dataclass(frozen=True, slots=True)
class ContributionsRecorded:
    """The aggregator recorded a finalized round's judgement digest and contribution values
    (scaled by `consent.contributions.VALUE_SCALE`)."""

    study: StudyId
    round: int
    judgement_hash: Bytes32
    hospitals: tuple[Address, ...]
    values: tuple[int, ...]
    position: EventPosition
    tx_hash: str


def _recorded(
    a: Mapping[str, Any], p: EventPosition, h: str, _t: Timestamp
) -> ContributionsRecorded:
    return ContributionsRecorded(
        study_arg(a),
        int(a["round"]),
        b32(a["judgementHash"]),
        tuple(parse_address(x) for x in a["hospitals"]),
        tuple(int(v) for v in a["values"]),
        p,
        h,
    )


CONTRIBUTIONS_BUILDERS: Final[Mapping[str, Builder[ContributionsRecorded]]] = {
    "ContributionsRecorded": _recorded
}
