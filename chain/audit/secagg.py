"""`secagg`: in privacy mode "secagg", anyone recomputes each round's sum from the public
transcript and checks the finalized model bit for bit.

Per round with a secagg record, these go through `consent.secagg.recover_sum`:
- the masked updates submitted before the close, their bytes checked against the on-chain
  hashes and their headers against the sender and its on-chain patient count (the weight);
- the survivors' reveals and the dropped hospitals' key deals, each checked against its hash.
The finalized model must be the base plus the decoded mean (`consent.secagg.model`). A forged
masked update, a forged reveal, a dealer who dealt another key, or a wrong model each fail with
the party to blame. An aborted round must have been below the threshold and must leave the base
model unchanged.
"""

from __future__ import annotations

import hashlib
from typing import Final

from chain.audit.check import hexed
from chain.audit.report import AuditCheck
from chain.audit.view import AuditView
from chain.store import ArtifactNotFoundError, CorruptArtifactError, InvalidCidError
from consent.formats import FormatError
from consent.formats.key_deal import decode_key_deal
from consent.formats.masked_update import decode_masked_update
from consent.formats.secagg_reveal import decode_reveal
from consent.ids import Address, Bytes32
from consent.records import RoundRecord
from consent.rounds import RoundState
from consent.secagg import (
    ForbiddenRevealError,
    ForgedShareError,
    KeyDeal,
    MaskedUpdate,
    ReconstructionError,
    Reveal,
    RoundContext,
    SecAggError,
    TooFewSharesError,
    dequantize_mean,
    recover_sum,
)
from consent.secagg.errors import MalformedMaskedUpdateError
from consent.secagg.model import apply_mean, load_tensors, model_bytes
from consent.secagg.records import SecAggRoundRecord

__all__ = ["SecAggSum"]


class _BlameError(Exception):
    """A failed fact and who is to blame (None: the aggregator)."""

    def __init__(self, detail: str, hospital: Address | None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.hospital = hospital


def _read(view: AuditView, cid: str, expected: Bytes32, what: str, who: Address | None) -> bytes:
    try:
        data = view.artifacts.get(cid)
    except (ArtifactNotFoundError, CorruptArtifactError, InvalidCidError) as exc:
        raise _BlameError(f"{what} {cid} cannot be read: {exc}", who) from exc
    if hashlib.sha256(data).digest() != bytes(expected):
        raise _BlameError(f"{what} {cid} does not match its on-chain hash {hexed(expected)}", who)
    return data


def _blame_of(exc: SecAggError) -> Address | None:
    if isinstance(exc, ForgedShareError | ForbiddenRevealError):
        return exc.holder
    if isinstance(exc, ReconstructionError | TooFewSharesError):
        return exc.owner
    if isinstance(exc, MalformedMaskedUpdateError):
        return exc.hospital
    return None


class SecAggSum:
    """One check per secagg round that is closed (finalized or aborted)."""

    name: Final = "secagg"

    def run(self, view: AuditView) -> list[AuditCheck]:
        """See the module docstring; `StoreUnavailableError` (node down) is raised."""
        checks: list[AuditCheck] = []
        if not view.rounds:  # like the other checks: nothing to say about a study without rounds
            return []
        if not any(view.secagg(r.round) is not None for r in view.rounds):
            detail = "no round of the study has a secagg record (mode sealed): nothing to recompute"
            return [AuditCheck(self.name, True, "study", detail)]
        for round_ in view.rounds:
            record = view.secagg(round_.round)
            if record is None or round_.state is not RoundState.FINALIZED:
                continue
            subject = f"secagg round {round_.round}"
            try:
                detail = (
                    self._aborted(round_, record)
                    if record.phase.aborted
                    else self._recomputed(view, round_, record)
                )
            except _BlameError as blame:
                checks.append(
                    AuditCheck(
                        self.name, False, subject, blame.detail, round_.round, blame.hospital
                    )
                )
                continue
            checks.append(AuditCheck(self.name, True, subject, detail, round_.round))
        return checks

    def _aborted(self, round_: RoundRecord, record: SecAggRoundRecord) -> str:
        phase, t = record.phase, record.threshold
        if phase.submitted_at_close >= t and phase.reveal_count >= t:
            raise _BlameError(
                f"aborted ({phase.abort_reason}) with {phase.submitted_at_close} submissions and "
                f"{phase.reveal_count} reveals, threshold {t}",
                None,
            )
        if round_.model_hash != round_.base_model_hash:
            raise _BlameError("an aborted round must keep its base model", None)
        return f"aborted ({phase.abort_reason}) below threshold {t}; base model kept"

    def _recomputed(self, view: AuditView, round_: RoundRecord, record: SecAggRoundRecord) -> str:
        if not record.phase.closed:
            raise _BlameError("finalized without closing submissions", None)
        context = RoundContext(view.study, round_.round)
        updates = self._updates(view, round_, record)
        reveals = self._reveals(view, record)
        survivors = {u.hospital for u in updates}
        deals = self._deals(view, record, survivors)
        try:
            result = recover_sum(
                context, roster=record.roster, key_deals=deals, updates=updates, reveals=reveals
            )
            mean = dequantize_mean(result.total, result.weight_sum, record.params)
            base = load_tensors(
                _read(view, round_.base_model_cid, round_.base_model_hash, "base model", None)
            )
            model = apply_mean(base, mean)
        except SecAggError as exc:
            raise _BlameError(f"the sum does not recompute: {exc}", _blame_of(exc)) from exc
        if hashlib.sha256(model_bytes(model)).digest() != bytes(round_.model_hash):
            raise _BlameError("the finalized model is not base + the recomputed mean", None)
        return (
            f"sum of {len(survivors)} masked update(s) recomputed "
            f"({len(result.dropped)} dropped, {len(reveals)} reveal(s)); model matches"
        )

    def _updates(
        self, view: AuditView, round_: RoundRecord, record: SecAggRoundRecord
    ) -> list[MaskedUpdate]:
        updates = []
        for update in view.updates(round_.round)[: record.phase.submitted_at_close]:
            data = _read(
                view, update.update_cid, update.update_hash, "masked update", update.hospital
            )
            try:
                masked = decode_masked_update(data, hospital=update.hospital)
            except MalformedMaskedUpdateError as exc:
                raise _BlameError(str(exc), update.hospital) from exc
            if masked.self_deal.threshold != record.threshold:
                raise _BlameError(
                    f"self seed dealt {masked.self_deal.threshold}-of-n, the study's t is "
                    f"{record.threshold}",
                    update.hospital,
                )
            if masked.weight != update.num_patients:
                raise _BlameError(
                    f"masked update weighs {masked.weight}, the chain says {update.num_patients}",
                    update.hospital,
                )
            updates.append(masked)
        return updates

    def _reveals(self, view: AuditView, record: SecAggRoundRecord) -> list[Reveal]:
        reveals = []
        for entry in record.reveals:
            data = _read(view, entry.reveal_cid, entry.reveal_hash, "reveal", entry.hospital)
            try:
                published = decode_reveal(data)
            except FormatError as exc:
                raise _BlameError(f"unreadable reveal: {exc}", entry.hospital) from exc
            if published.holder != entry.hospital:
                raise _BlameError(
                    f"a reveal that claims to be {published.holder}'s", entry.hospital
                )
            reveals.append(published)
        return reveals

    def _deals(
        self, view: AuditView, record: SecAggRoundRecord, survivors: set[Address]
    ) -> dict[Address, KeyDeal]:
        deals = {}
        for entry in record.roster:
            if entry.hospital in survivors:
                continue
            keys = record.key_deals[entry.hospital]
            data = _read(view, keys.deal_cid, keys.deal_hash, "key deal", entry.hospital)
            try:
                deals[entry.hospital] = decode_key_deal(data)
            except FormatError as exc:
                raise _BlameError(f"unreadable key deal: {exc}", entry.hospital) from exc
            if deals[entry.hospital].deal.threshold != record.threshold:
                raise _BlameError("mask key dealt with another threshold", entry.hospital)
        return deals
