"""`recompute`: every finalized model is the aggregate of its round's updates, bit for bit.

Run when the auditor holds one of the study's auditor keys (`consentfl audit verify
--auditor-key`). The work is `fl`'s (`fl.roles.recompute.AggregateRecomputer`: open each sealed
update with the auditor's key, screen and combine them with the plan's learner and strategy), which
`chain/` cannot import: it is handed in as a `Recomputer`, and this check judges what it found.

Per finalized round it records one finding for the model (its recomputed SHA-256 equals the
on-chain `modelHash`, or which tensors differ) and one failure per update the auditor's key does
not open (an update not sealed to the auditors, or bytes that are no update at all: random bytes
with a matching CID and hash pass the `artifact` check, never this one). An update that opens
but that the learner's screening rejects is the aggregator's rejection to make, not a failure
here: the model comparison shows whether it was made.
"""

from __future__ import annotations

from typing import Final, Protocol

from chain.audit.check import hexed
from chain.audit.report import AuditCheck
from chain.audit.view import AuditView
from chain.store import StoreUnavailableError
from consent.errors import ConsentError
from consent.recomputation import Recomputation
from consent.records import RoundRecord
from consent.rounds import RoundState

__all__ = ["Recompute", "Recomputer"]


class Recomputer(Protocol):
    """Rebuilds a finalized round's model from its updates (`fl.roles.recompute`)."""

    def recompute(self, record: RoundRecord) -> Recomputation:
        """The round's model rebuilt; raises (`ValueError`/`ConsentError`) when impossible."""
        ...


class Recompute:
    """One model finding per finalized round, plus one failure per unopenable update."""

    name: Final = "recompute"

    def __init__(self, recomputer: Recomputer) -> None:
        self._recomputer = recomputer

    def run(self, view: AuditView) -> list[AuditCheck]:
        """See the module docstring; a store that is down raises `StoreUnavailableError`."""
        checks: list[AuditCheck] = []
        for round_ in view.rounds:
            if round_.state is RoundState.FINALIZED:
                checks.extend(self._round(round_))
        return checks

    def _round(self, round_: RoundRecord) -> list[AuditCheck]:
        subject = f"model {round_.model_cid}"
        try:
            found = self._recomputer.recompute(round_)
        except (StoreUnavailableError, ConnectionError):
            raise
        except (ConsentError, ValueError, KeyError) as exc:
            return [AuditCheck(self.name, False, subject, f"cannot recompute: {exc}", round_.round)]
        checks = [
            AuditCheck(
                self.name,
                False,
                f"update of {u.hospital}",
                u.reason,
                round_.round,
                u.hospital,
            )
            for u in found.unusable
            if not u.opened
        ]
        same = bytes(found.model_hash) == bytes(round_.model_hash)
        detail = (
            f"recomputed bit-exactly from {len(found.kept)} update(s) "
            f"(sha256 {hexed(found.model_hash)})"
            if same
            else f"the published model is not the aggregate of its updates: recomputed sha256 "
            f"{hexed(found.model_hash)}, on chain {hexed(round_.model_hash)}: {found.difference}"
        )
        checks.append(AuditCheck(self.name, same, subject, detail, round_.round))
        return checks
