"""Typed facade of the DatasetInventory contract: dataset cards, study thresholds, offers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from hexbytes import HexBytes
from web3.types import TxReceipt

from chain._facade import ContractFacade, string_gas
from consent.dataset_card import AdmissionThresholds, OnChainScores
from consent.ids import Address, Bytes32, StudyId, parse_address

__all__ = ["DatasetInventory", "DatasetOffered", "DatasetRecord", "TxResult"]

_GAS_REGISTER: Final = 250_000
_GAS_THRESHOLDS: Final = 150_000
_GAS_OFFER: Final = 160_000


@dataclass(frozen=True, slots=True)
class DatasetRecord:
    """A registered dataset card: its owner, CID, scores and registration block."""

    card_hash: Bytes32
    hospital: Address
    card_cid: str
    scores: OnChainScores
    registered_block: int


@dataclass(frozen=True, slots=True)
class TxResult:
    """A mined state change: its transaction hash and block."""

    tx_hash: str
    block: int


@dataclass(frozen=True, slots=True)
class DatasetOffered:
    """A hospital offered one of its datasets to a study."""

    study: StudyId
    hospital: Address
    card_hash: Bytes32


def _scores_tuple(scores: OnChainScores) -> tuple[Any, ...]:
    return (
        scores.k,
        scores.l,
        scores.t_closeness_ppm,
        scores.singling_out_risk_ppm,
        scores.linkability_risk_ppm,
        scores.inference_risk_ppm,
        scores.rows,
        scores.synthetic,
    )


def _scores(raw: Any) -> OnChainScores:
    return OnChainScores(
        k=int(raw[0]),
        l=int(raw[1]),
        t_closeness_ppm=int(raw[2]),
        singling_out_risk_ppm=int(raw[3]),
        linkability_risk_ppm=int(raw[4]),
        inference_risk_ppm=int(raw[5]),
        rows=int(raw[6]),
        synthetic=bool(raw[7]),
    )


def _result(receipt: TxReceipt) -> TxResult:
    return TxResult(HexBytes(receipt["transactionHash"]).to_0x_hex(), int(receipt["blockNumber"]))


class DatasetInventory(ContractFacade):
    """Dataset cards hospitals registered, studies' admission thresholds, and offers."""

    CONTRACT = "DatasetInventory"

    def register_dataset(
        self, card_hash: Bytes32, card_cid: str, scores: OnChainScores
    ) -> TxResult:
        """Register the sender's card (its SHA-256, CID and scores); emits DatasetRegistered."""
        receipt = self._transact(
            _GAS_REGISTER + string_gas(card_cid),
            "registerDataset",
            bytes(card_hash),
            card_cid,
            _scores_tuple(scores),
        )
        return _result(receipt)

    def set_thresholds(self, study: StudyId, thresholds: AdmissionThresholds) -> TxResult:
        """Declare `study`'s admission thresholds, once (its coordinator only)."""
        limits = (
            thresholds.min_k,
            thresholds.min_l,
            thresholds.max_t_closeness_ppm,
            thresholds.max_risk_ppm,
            thresholds.allow_synthetic,
        )
        return _result(self._transact(_GAS_THRESHOLDS, "setThresholds", bytes(study), limits))

    def offer_dataset(self, study: StudyId, card_hash: Bytes32) -> TxResult:
        """Offer the sender's dataset to `study` (it must meet thresholds already declared)."""
        return _result(self._transact(_GAS_OFFER, "offerDataset", bytes(study), bytes(card_hash)))

    def admissible(self, study: StudyId, hospital: Address) -> bool:
        """Whether `study` would admit `hospital` on its offered dataset."""
        return bool(self._call("admissible", bytes(study), hospital))

    def get_dataset(self, card_hash: Bytes32) -> DatasetRecord:
        """The registered card; raises `UnknownDatasetError`."""
        raw = self._call("getDataset", bytes(card_hash))
        return DatasetRecord(
            card_hash=card_hash,
            hospital=parse_address(raw[0]),
            card_cid=str(raw[1]),
            scores=_scores(raw[2]),
            registered_block=int(raw[3]),
        )

    def datasets(self) -> tuple[Bytes32, ...]:
        """Every registered card hash, in registration order."""
        return tuple(Bytes32(bytes(h)) for h in self._call("datasets"))

    def offered_dataset(self, study: StudyId, hospital: Address) -> Bytes32 | None:
        """The card hash `hospital` offered to `study`, None if none."""
        raw = bytes(self._call("offeredDataset", bytes(study), hospital))
        return None if raw == bytes(32) else Bytes32(raw)

    def studies_of(self, card_hash: Bytes32) -> tuple[StudyId, ...]:
        """The studies `card_hash` is currently offered to."""
        return tuple(StudyId(bytes(s)) for s in self._call("studiesOf", bytes(card_hash)))

    def thresholds(self, study: StudyId) -> AdmissionThresholds | None:
        """`study`'s admission thresholds, None if it declared none."""
        raw, declared = self._call("thresholds", bytes(study))
        if not declared:
            return None
        return AdmissionThresholds(
            min_k=int(raw[0]),
            min_l=int(raw[1]),
            max_t_closeness_ppm=int(raw[2]),
            max_risk_ppm=int(raw[3]),
            allow_synthetic=bool(raw[4]),
        )
