"""Typed facade of the RoundLedger contract.

It takes the domain's value objects (`consent.records.UpdateSubmission`, `RoundResult`) and
matches their fields to the contract's parameters by name; round and update records are decoded
by the ABI's field names, so either side can gain a field without a positional shift.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Final

from chain._facade import ContractFacade, camel, string_gas
from chain.errors import ChainError
from chain.events import RoundFinalized, RoundOpened, UpdateSubmitted
from consent.ids import Address, Bytes32, StudyId, parse_address
from consent.records import RoundRecord, RoundResult, UpdateSubmission
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

    @classmethod
    def from_fields(cls, round_: int, raw: Mapping[str, Any]) -> Round:
        """From `getRound`'s struct keyed by field name (fields this code does not know are
        ignored, so a contract whose round record gained a field still decodes)."""
        try:
            state = RoundState(int(raw["state"]))
        except ValueError as exc:
            raise ChainError(f"round {round_} is in a phase this client does not know") from exc
        return cls(
            round=round_,
            base_model_hash=Bytes32(bytes(raw["baseModelHash"])),
            base_model_cid=str(raw["baseModelCid"]),
            model_hash=Bytes32(bytes(raw["modelHash"])),
            model_cid=str(raw["modelCid"]),
            metrics_cid=str(raw["metricsCid"]),
            opened_block=int(raw["openedBlock"]),
            finalized_block=int(raw["finalizedBlock"]),
            update_count=int(raw["updateCount"]),
            state=state,
        )

    def record(self, updates: tuple[UpdateRecord, ...] = ()) -> RoundRecord:
        """The domain's round record (`consent.records.RoundRecord`) of this round with its
        `updates`."""
        return RoundRecord(
            round=self.round,
            state=self.state,
            base_model_hash=self.base_model_hash,
            base_model_cid=self.base_model_cid,
            model_hash=self.model_hash,
            model_cid=self.model_cid,
            metrics_cid=self.metrics_cid,
            opened_block=self.opened_block,
            finalized_block=self.finalized_block,
            updates=updates,
        )


def _update(raw: Mapping[str, Any]) -> UpdateRecord:
    """From one of `getUpdates`' structs keyed by field name (unknown fields ignored)."""
    return UpdateRecord(
        hospital=parse_address(raw["hospital"]),
        update_hash=Bytes32(bytes(raw["updateHash"])),
        update_cid=str(raw["updateCid"]),
        num_samples=int(raw["numSamples"]),
        num_patients=int(raw["numPatients"]),
        data_root=Bytes32(bytes(raw["dataRoot"])),
        consent_block=int(raw["consentBlock"]),
        submitted_block=int(raw["submittedBlock"]),
    )


def _round_view(raw: Mapping[str, Any]) -> tuple[int, RoundRecord]:
    """From a `RoundView` struct keyed by field name: the round count and the round's record."""
    round_ = int(raw["round"])
    updates = tuple(_update(u) for u in raw["updates"])
    return int(raw["roundCount"]), Round.from_fields(round_, raw["record"]).record(updates)


def _abi_values(record: Any) -> dict[str, Any]:
    """A record's fields keyed as the ABI names them, bytes32 values as raw bytes."""
    return {camel(f.name): getattr(record, f.name) for f in fields(record)}


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
        self, study: StudyId, round_: int, submission: UpdateSubmission
    ) -> UpdateSubmitted:
        """Submit the sending hospital's update (arguments matched to the ABI by
        name); `submission.num_patients` (the aggregation weight) must not exceed the hospital's
        active consents (`InvalidPatientCountError`).

        Raises `StaleConsentError` (also a `consent.errors.StaleConsentError`) if a revocation
        of one of the hospital's patients landed after `submission.consent_block`.
        """
        receipt = self._transact_named(
            _GAS_SUBMIT + string_gas(submission.update_cid),
            "submitUpdate",
            {"study": bytes(study), "round": round_, **_abi_values(submission)},
        )
        return self._single_event(receipt, UpdateSubmitted)

    def finalize_round(self, study: StudyId, round_: int, result: RoundResult) -> RoundFinalized:
        """Finalize `round_` with the model built from its first `result.considered_updates`
        updates (every update the aggregator read, kept or rejected).

        Raises `AggregatedUpdatesMismatchError` (also a `consent.errors.RoundChangedError`) if the
        round holds a different number of updates by the time the transaction runs.
        """
        receipt = self._transact_named(
            _GAS_FINALIZE + string_gas(result.model_cid, result.metrics_cid),
            "finalizeRound",
            {"study": bytes(study), "round": round_, **_abi_values(result)},
        )
        return self._single_event(receipt, RoundFinalized)

    def finalize_and_open_round(
        self, study: StudyId, round_: int, result: RoundResult
    ) -> tuple[RoundFinalized, RoundOpened]:
        """Finalize `round_` as `finalize_round` does and open `round_ + 1` on its model, in one
        transaction (`finalizeAndOpenRound`); refused exactly as `finalize_round` is."""
        receipt = self._transact_named(
            _GAS_FINALIZE
            + _GAS_OPEN
            + string_gas(result.model_cid, result.model_cid, result.metrics_cid),
            "finalizeAndOpenRound",
            {"study": bytes(study), "round": round_, **_abi_values(result)},
        )
        return self._single_event(receipt, RoundFinalized), self._single_event(receipt, RoundOpened)

    def get_round(self, study: StudyId, round_: int) -> Round:
        """The round's record (state NONE if never opened)."""
        return Round.from_fields(round_, self._call_named("getRound", bytes(study), round_))

    def get_round_record(self, study: StudyId, round_: int) -> RoundRecord:
        """The round with its updates as the domain's record, in one view call
        (`getRoundWithUpdates`)."""
        return self.round_view(study, round_)[1]

    def round_view(self, study: StudyId, round_: int) -> tuple[int, RoundRecord]:
        """The study's round count and `round_` with its updates, in one view call."""
        return _round_view(self._call_named("getRoundWithUpdates", bytes(study), round_))

    def latest_round(self, study: StudyId) -> tuple[int, RoundRecord | None]:
        """The study's round count and its latest round with its updates (None before round
        0), in one view call (`getLatestRound`)."""
        count, record = _round_view(self._call_named("getLatestRound", bytes(study)))
        return count, None if count == 0 else record

    def get_updates(self, study: StudyId, round_: int) -> tuple[UpdateRecord, ...]:
        """The round's updates in submission order."""
        return tuple(_update(raw) for raw in self._call_named("getUpdates", bytes(study), round_))

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
