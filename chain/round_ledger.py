"""Typed facade of the RoundLedger contract."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from chain._facade import ContractFacade, string_gas
from chain.events import RoundFinalized, RoundOpened, UpdateSubmitted
from consent.ids import Address, Bytes32, StudyId, parse_address
from consent.rounds import RoundState, UpdateRecord
from consent.smt import SmtProof

__all__ = ["Round", "RoundLedger", "RoundState", "UpdateRecord"]

_GAS_OPEN: Final = 150_000
_GAS_SUBMIT: Final = 260_000
_GAS_FINALIZE: Final = 150_000
_ZERO: Final = Address("0x" + "00" * 20)


@dataclass(frozen=True, slots=True)
class Round:
    """A round's on-chain record."""

    round: int
    base_model_hash: Bytes32
    base_model_cid: str
    model_hash: Bytes32
    model_cid: str
    metrics_cid: str
    opened_block: int
    finalized_block: int
    update_count: int
    state: RoundState


def _update(raw: Sequence[Any]) -> UpdateRecord:
    return UpdateRecord(
        hospital=parse_address(raw[0]),
        update_hash=Bytes32(bytes(raw[1])),
        update_cid=str(raw[2]),
        num_samples=int(raw[3]),
        num_patients=int(raw[4]),
        data_root=Bytes32(bytes(raw[5])),
        consent_block=int(raw[6]),
        submitted_block=int(raw[7]),
    )


class RoundLedger(ContractFacade):
    """Rounds, updates and the freshness rule. The sender is the aggregator for opening and
    finalizing, a member hospital for submitting."""

    CONTRACT = "RoundLedger"

    def open_round(
        self, study: StudyId, round_: int, base_model_hash: Bytes32, base_model_cid: str
    ) -> RoundOpened:
        """Open `round_` (the next one) on the given base model."""
        receipt = self._transact(
            _GAS_OPEN + string_gas(base_model_cid),
            "openRound",
            bytes(study),
            round_,
            bytes(base_model_hash),
            base_model_cid,
        )
        return self._single_event(receipt, RoundOpened)

    def submit_update(
        self,
        study: StudyId,
        round_: int,
        *,
        update_hash: Bytes32,
        update_cid: str,
        num_samples: int,
        num_patients: int,
        data_root: Bytes32,
        consent_block: int,
    ) -> UpdateSubmitted:
        """Submit the sending hospital's update; `num_patients` (the aggregation weight) must not
        exceed the hospital's active consents (`InvalidPatientCountError`).

        Raises `StaleConsentError` (also a `consent.errors.StaleConsentError`) if a revocation
        of one of the hospital's patients landed after `consent_block`.
        """
        receipt = self._transact(
            _GAS_SUBMIT + string_gas(update_cid),
            "submitUpdate",
            bytes(study),
            round_,
            bytes(update_hash),
            update_cid,
            num_samples,
            num_patients,
            bytes(data_root),
            consent_block,
        )
        return self._single_event(receipt, UpdateSubmitted)

    def finalize_round(
        self,
        study: StudyId,
        round_: int,
        model_hash: Bytes32,
        model_cid: str,
        metrics_cid: str,
        *,
        considered_updates: int,
    ) -> RoundFinalized:
        """Finalize `round_` with the model built from its first `considered_updates` updates
        (every update the aggregator read, accepted or rejected).

        Raises `AggregatedUpdatesMismatchError` (also a `consent.errors.RoundChangedError`) if the
        round holds a different number of updates by the time the transaction runs.
        """
        receipt = self._transact(
            _GAS_FINALIZE + string_gas(model_cid, metrics_cid),
            "finalizeRound",
            bytes(study),
            round_,
            bytes(model_hash),
            model_cid,
            metrics_cid,
            considered_updates,
        )
        return self._single_event(receipt, RoundFinalized)

    def get_round(self, study: StudyId, round_: int) -> Round:
        """The round's record (state NONE if never opened)."""
        raw = self._call("getRound", bytes(study), round_)
        return Round(
            round=round_,
            base_model_hash=Bytes32(bytes(raw[0])),
            base_model_cid=str(raw[1]),
            model_hash=Bytes32(bytes(raw[2])),
            model_cid=str(raw[3]),
            metrics_cid=str(raw[4]),
            opened_block=int(raw[5]),
            finalized_block=int(raw[6]),
            update_count=int(raw[7]),
            state=RoundState(int(raw[8])),
        )

    def get_updates(self, study: StudyId, round_: int) -> tuple[UpdateRecord, ...]:
        """The round's updates in submission order."""
        return tuple(_update(raw) for raw in self._call("getUpdates", bytes(study), round_))

    def has_submitted(self, study: StudyId, round_: int, hospital: Address) -> bool:
        """Whether `hospital` submitted to `round_`."""
        return bool(self._call("hasSubmitted", bytes(study), round_, hospital))

    def round_count(self, study: StudyId) -> int:
        """How many rounds were opened in `study`."""
        return int(self._call("roundCount", bytes(study)))

    def verify_data_membership(self, root: Bytes32, proof: SmtProof) -> bool:
        """The contract's own check that `proof` shows `proof.patient` under `root`."""
        if proof.occupant is not None:
            return False
        siblings = [bytes(s) for s in proof.siblings]
        return bool(
            self._call(
                "verifyDataMembership",
                bytes(root),
                proof.patient,
                proof.depth,
                proof.bitmap,
                siblings,
            )
        )

    def verify_data_non_membership(self, root: Bytes32, proof: SmtProof) -> bool:
        """The contract's own check that `proof` shows `proof.patient` absent from `root`."""
        occupant = proof.occupant if proof.occupant is not None else _ZERO
        siblings = [bytes(s) for s in proof.siblings]
        return bool(
            self._call(
                "verifyDataNonMembership",
                bytes(root),
                proof.patient,
                occupant,
                proof.depth,
                proof.bitmap,
                siblings,
            )
        )
