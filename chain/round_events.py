"""The RoundLedger's round logs decoded: `RoundOpened`, `UpdateSubmitted`, `RoundFinalized`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from chain.event_args import Builder, Timestamp, b32, study_arg
from consent.events import EventPosition
from consent.ids import Address, Bytes32, StudyId, parse_address

__all__ = ["ROUND_BUILDERS", "RoundFinalized", "RoundOpened", "UpdateSubmitted"]


@dataclass(frozen=True, slots=True)
class RoundOpened:
    """The aggregator opened a round on a base model."""

    study: StudyId
    round: int
    base_model_hash: Bytes32
    base_model_cid: str
    position: EventPosition
    tx_hash: str


@dataclass(frozen=True, slots=True)
class UpdateSubmitted:
    """A hospital submitted its update to a round."""

    study: StudyId
    round: int
    hospital: Address
    update_hash: Bytes32
    update_cid: str
    num_samples: int
    num_patients: int
    data_root: Bytes32
    consent_block: int
    position: EventPosition
    tx_hash: str


@dataclass(frozen=True, slots=True)
class RoundFinalized:
    """The aggregator finalized a round with the aggregated model."""

    study: StudyId
    round: int
    model_hash: Bytes32
    model_cid: str
    metrics_cid: str
    update_count: int
    position: EventPosition
    tx_hash: str


def _opened(a: Mapping[str, Any], p: EventPosition, h: str, _t: Timestamp) -> RoundOpened:
    return RoundOpened(
        study_arg(a), int(a["round"]), b32(a["baseModelHash"]), str(a["baseModelCid"]), p, h
    )


def _submitted(a: Mapping[str, Any], p: EventPosition, h: str, _t: Timestamp) -> UpdateSubmitted:
    return UpdateSubmitted(
        study_arg(a),
        int(a["round"]),
        parse_address(a["hospital"]),
        b32(a["updateHash"]),
        str(a["updateCid"]),
        int(a["numSamples"]),
        int(a["numPatients"]),
        b32(a["dataRoot"]),
        int(a["consentBlock"]),
        p,
        h,
    )


def _finalized(a: Mapping[str, Any], p: EventPosition, h: str, _t: Timestamp) -> RoundFinalized:
    return RoundFinalized(
        study_arg(a),
        int(a["round"]),
        b32(a["modelHash"]),
        str(a["modelCid"]),
        str(a["metricsCid"]),
        int(a["updateCount"]),
        p,
        h,
    )


ROUND_BUILDERS: Final[Mapping[str, Builder[RoundOpened | UpdateSubmitted | RoundFinalized]]] = {
    "RoundOpened": _opened,
    "UpdateSubmitted": _submitted,
    "RoundFinalized": _finalized,
}
