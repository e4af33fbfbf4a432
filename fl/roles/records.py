"""What a trainer records per round, persisted as JSON under its state directory.

A hospital must be able to prove later, for every revoked patient, that each data root it
committed after the revocation leaves that patient out. So the trainer keeps, per round, the exact
patient set it committed to (the leaves of its `dataRoot`) in::

    <state_dir>/rounds/<round>.json
    {
      "format": "consentfl.trainer-round/1",
      "study": "0x<64 hex>", "hospital": "0x<checksummed>", "round": 3,
      "consent_block": 120, "submitted_block": 123,      # submitted_block null until accepted
      "data_root": "0x<64 hex>", "update_cid": "bafy...", "num_samples": 140,
      "patients": ["0x...", ...],                       # ascending, the dataRoot leaves
      "dropped_rows": {"revoked": 4, "unknown": 0, ...}
    }

These files stay inside the hospital (patient addresses are pseudonymous but the hospital alone
links them to records).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from consent.ids import Address, Bytes32, StudyId, parse_address, parse_bytes32
from consent.records import UpdateSubmission
from fl.roles.errors import RoleError

__all__ = [
    "ROUND_FORMAT",
    "DropReason",
    "PreparedUpdate",
    "RoundUsage",
    "TrainerOutcome",
    "UsageBook",
    "load_usages",
    "write_json_atomic",
]

logger = logging.getLogger(__name__)

ROUND_FORMAT: Final = "consentfl.trainer-round/1"


class DropReason(StrEnum):
    """Why a row was left out of a round's training."""

    NOT_CONSENTED = "not-consented"
    """Known patient without consent for this hospital at the block (e.g. granted later)."""
    REVOKED = "revoked"
    EXPIRED = "expired"
    UNCOVERED = "uncovered"
    """The consent's DUO purposes do not cover the study's purpose (or were withdrawn)."""
    NOT_YET_VALID = "not-yet-valid"
    """The consent's validity period has not started."""
    UNKNOWN = "unknown"
    """No consent event at all for the patient in the study: the hospital must not hold the data."""


@dataclass(frozen=True, slots=True)
class RoundUsage:
    """One hospital's data use in one round (what the demo prints and the proofs rely on)."""

    study: StudyId
    hospital: Address
    round: int
    consent_block: int
    data_root: Bytes32
    update_cid: str
    num_samples: int
    patients: tuple[Address, ...]
    """The distinct patients trained on, ascending: the leaves of `data_root`."""
    dropped_rows: Mapping[DropReason, int] = field(default_factory=dict)
    dropped_patients: Mapping[DropReason, tuple[Address, ...]] = field(default_factory=dict)
    submitted_block: int | None = None
    retrained: int = 0
    """How many times the round was retrained after a stale-consent refusal."""

    def to_json_dict(self) -> dict[str, Any]:
        """The persisted form (dropped patients are not persisted, only counts)."""
        return {
            "format": ROUND_FORMAT,
            "study": "0x" + bytes(self.study).hex(),
            "hospital": self.hospital,
            "round": self.round,
            "consent_block": self.consent_block,
            "submitted_block": self.submitted_block,
            "data_root": "0x" + bytes(self.data_root).hex(),
            "update_cid": self.update_cid,
            "num_samples": self.num_samples,
            "patients": list(self.patients),
            "dropped_rows": {str(k): v for k, v in self.dropped_rows.items()},
        }

    @classmethod
    def from_json_dict(cls, body: Mapping[str, Any]) -> RoundUsage:
        """Parse `to_json_dict` output; raises `RoleError` if malformed."""
        try:
            if body.get("format") != ROUND_FORMAT:
                raise RoleError(f"not a trainer round record: {body.get('format')!r}")
            submitted = body["submitted_block"]
            return cls(
                study=StudyId(parse_bytes32(body["study"])),
                hospital=parse_address(body["hospital"]),
                round=int(body["round"]),
                consent_block=int(body["consent_block"]),
                data_root=parse_bytes32(body["data_root"]),
                update_cid=str(body["update_cid"]),
                num_samples=int(body["num_samples"]),
                patients=tuple(parse_address(p) for p in body["patients"]),
                dropped_rows={DropReason(k): int(v) for k, v in body["dropped_rows"].items()},
                submitted_block=None if submitted is None else int(submitted),
            )
        except RoleError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise RoleError(f"malformed trainer round record: {exc}") from exc


def write_json_atomic(path: Path, body: Mapping[str, Any] | list[Any]) -> None:
    """Write JSON to `path` atomically (readers never see half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(body, handle, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def round_path(state_dir: Path, round_: int) -> Path:
    """Where the record of `round_` lives."""
    return state_dir / "rounds" / f"{round_}.json"


def load_usages(state_dir: Path) -> dict[int, RoundUsage]:
    """Every persisted round record under `state_dir`, by round."""
    found: dict[int, RoundUsage] = {}
    folder = state_dir / "rounds"
    if not folder.is_dir():
        return found
    for path in folder.glob("*.json"):
        try:
            usage = RoundUsage.from_json_dict(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError) as exc:
            raise RoleError(f"cannot read trainer round record {path}: {exc}") from exc
        found[usage.round] = usage
    return found


class UsageBook:
    """A trainer's round records, by round, persisted under its state directory: what it
    committed to behind every data root, kept across restarts."""

    def __init__(self, state_dir: Path) -> None:
        self._state_dir = Path(state_dir)
        self.by_round: dict[int, RoundUsage] = load_usages(self._state_dir)

    def persist(self, usage: RoundUsage) -> None:
        """Write `usage` (atomically) and keep it as its round's record."""
        write_json_atomic(round_path(self._state_dir, usage.round), usage.to_json_dict())
        self.by_round[usage.round] = usage

    def submitted(self) -> list[RoundUsage]:
        """The records of the updates that landed on the ledger."""
        return [u for u in self.by_round.values() if u.submitted_block is not None]

    def reconcile(self, round_: int, data_root: bytes, consent_block: int, block: int) -> None:
        """After a restart: mark the local record of an update the ledger holds as submitted."""
        usage = self.by_round.get(round_)
        if usage is None or usage.submitted_block is not None:
            return
        if bytes(usage.data_root) != bytes(data_root):
            logger.error(
                "round %d: the ledger holds a data root this trainer has no record of", round_
            )
            return
        self.persist(replace(usage, consent_block=consent_block, submitted_block=block))


@dataclass(frozen=True, slots=True)
class TrainerOutcome:
    """What the trainer did in one round: `usage` when it submitted, `skipped` otherwise."""

    round: int
    usage: RoundUsage | None
    stale_refusals: int = 0
    retrained: int = 0
    skipped: str | None = None


@dataclass(frozen=True, slots=True)
class PreparedUpdate:
    """A trained, stored update of one round and its on-chain hash, ready to submit."""

    usage: RoundUsage
    update_hash: Bytes32

    @property
    def submission(self) -> UpdateSubmission:
        """What goes on chain for this prepared update."""
        return UpdateSubmission(
            update_hash=self.update_hash,
            update_cid=self.usage.update_cid,
            num_samples=self.usage.num_samples,
            num_patients=len(self.usage.patients),
            data_root=self.usage.data_root,
            consent_block=self.usage.consent_block,
        )
