"""Typed facade of the SecAggCoordinator contract (privacy mode "secagg").

Records are decoded by the ABI's field names into `consent.secagg.records` values. Abort reasons
are short ASCII names (e.g. "too-few-reveals") stored as a right-padded `bytes32`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from web3.types import TxReceipt

from chain._facade import ContractFacade, string_gas
from chain.errors import ChainError
from consent.ids import Address, Bytes32, StudyId, parse_address
from consent.secagg.records import HospitalKeysRecord, RevealRecord, SecAggPhase

__all__ = ["SecAggCoordinator", "decode_reason", "encode_reason"]

_GAS_CONFIGURE: Final = 120_000
_GAS_REGISTER: Final = 200_000
_GAS_DEAL: Final = 170_000  # + fromRound and the ledger's roundCount since the key history
_GAS_CLOSE_BASE: Final = 120_000
_GAS_CLOSE_PER_MEMBER: Final = 60_000  # + the walk back through the key history
_GAS_REVEAL: Final = 200_000
_GAS_ABORT: Final = 120_000


def encode_reason(reason: str) -> bytes:
    """`reason` as a right-padded bytes32; raises `ValueError` beyond 32 ASCII bytes."""
    raw = reason.encode("ascii")
    if not raw or len(raw) > 32:
        raise ValueError(f"an abort reason is 1..32 ASCII bytes, got {reason!r}")
    return raw.ljust(32, b"\0")


def decode_reason(raw: bytes) -> str:
    """The reason name back from its bytes32."""
    return bytes(raw).rstrip(b"\0").decode("ascii", errors="replace")


def _keys_record(raw: Mapping[str, Any]) -> HospitalKeysRecord:
    try:
        return HospitalKeysRecord(
            mask_key=Bytes32(bytes(raw["maskKey"])),
            seal_key=Bytes32(bytes(raw["sealKey"])),
            epoch=int(raw["epoch"]),
            deal_hash=Bytes32(bytes(raw["dealHash"])),
            deal_cid=str(raw["dealCid"]),
            dealt_block=int(raw["dealtBlock"]),
            burned_block=int(raw["burnedBlock"]),
            from_round=int(raw.get("fromRound", 0)),  # absent before the key history
        )
    except (KeyError, TypeError) as exc:
        raise ChainError(f"malformed key record: {exc}") from exc


class SecAggCoordinator(ContractFacade):
    """Keys, deals, closes, reveals and aborts. The sender is the aggregator for configuring,
    closing and aborting; a member hospital for its keys, deal and reveal."""

    CONTRACT = "SecAggCoordinator"

    def emitted(self, receipt: TxReceipt, event: str) -> list[Mapping[str, Any]]:
        """The arguments of every `event` this contract emitted in `receipt`."""
        found = self._contract.events[event]().process_receipt(receipt)
        return [dict(entry["args"]) for entry in found]

    def configure(self, study: StudyId, threshold: int, reveal_window: int) -> TxReceipt:
        """Set the study's threshold t and reveal window (blocks)."""
        return self._transact(_GAS_CONFIGURE, "configure", bytes(study), threshold, reveal_window)

    def register_keys(self, study: StudyId, mask_key: Bytes32, seal_key: Bytes32) -> TxReceipt:
        """Register (or replace) the sender's X25519 public keys."""
        return self._transact(
            _GAS_REGISTER, "registerKeys", bytes(study), bytes(mask_key), bytes(seal_key)
        )

    def deal_key(self, study: StudyId, deal_hash: Bytes32, deal_cid: str) -> TxReceipt:
        """Record the deal of the sender's mask key."""
        return self._transact(
            _GAS_DEAL + string_gas(deal_cid), "dealKey", bytes(study), bytes(deal_hash), deal_cid
        )

    def close_submissions(self, study: StudyId, round_: int, members: int) -> TxReceipt:
        """Close `round_`'s submissions (`members`: the study's member count, for gas)."""
        gas = _GAS_CLOSE_BASE + _GAS_CLOSE_PER_MEMBER * members
        return self._transact(gas, "closeSubmissions", bytes(study), round_)

    def reveal(
        self, study: StudyId, round_: int, reveal_hash: Bytes32, reveal_cid: str
    ) -> TxReceipt:
        """Record the sender's reveal for `round_`."""
        return self._transact(
            _GAS_REVEAL + string_gas(reveal_cid),
            "reveal",
            bytes(study),
            round_,
            bytes(reveal_hash),
            reveal_cid,
        )

    def abort_round(self, study: StudyId, round_: int, reason: str) -> TxReceipt:
        """Abort `round_` below threshold with the named `reason`."""
        return self._transact(_GAS_ABORT, "abortRound", bytes(study), round_, encode_reason(reason))

    def threshold(self, study: StudyId) -> int:
        """The study's threshold (0: not a secagg study)."""
        return int(self._call("threshold", bytes(study)))

    def get_keys(self, study: StudyId, hospital: Address) -> HospitalKeysRecord:
        """`hospital`'s latest key epoch (all zero if none)."""
        return _keys_record(self._call_named("getKeys", bytes(study), hospital))

    def keys_at(self, study: StudyId, hospital: Address, round_: int) -> HospitalKeysRecord:
        """The key epoch that binds `round_` for `hospital` (all zero if none)."""
        return _keys_record(self._call_named("keysAt", bytes(study), hospital, round_))

    def key_history(self, study: StudyId, hospital: Address) -> tuple[HospitalKeysRecord, ...]:
        """Every key epoch `hospital` registered, oldest first."""
        return tuple(
            _keys_record(raw) for raw in self._call_named("keyHistory", bytes(study), hospital)
        )

    def roster(self, study: StudyId, round_: int) -> tuple[Address, ...]:
        """The round's roster (keys dealt before it opened and not burned then), sorted."""
        return tuple(sorted(parse_address(a) for a in self._call("roster", bytes(study), round_)))

    def get_phase(self, study: StudyId, round_: int) -> SecAggPhase:
        """The round's secagg phase."""
        raw = self._call_named("getPhase", bytes(study), round_)
        return SecAggPhase(
            closed_block=int(raw["closedBlock"]),
            submitted_at_close=int(raw["submittedAtClose"]),
            reveal_count=int(raw["revealCount"]),
            aborted_block=int(raw["abortedBlock"]),
            abort_reason=decode_reason(bytes(raw["abortReason"])),
        )

    def get_reveals(self, study: StudyId, round_: int) -> tuple[RevealRecord, ...]:
        """The round's reveals in order."""
        try:
            return tuple(
                RevealRecord(
                    hospital=parse_address(raw["hospital"]),
                    reveal_hash=Bytes32(bytes(raw["revealHash"])),
                    reveal_cid=str(raw["revealCid"]),
                    revealed_block=int(raw["revealedBlock"]),
                )
                for raw in self._call_named("getReveals", bytes(study), round_)
            )
        except (KeyError, TypeError) as exc:
            raise ChainError(f"malformed reveal record: {exc}") from exc
