"""The auditor's verifier: re-check a study's whole history against the chain and the artifacts.

`AuditVerifier.verify(study)` walks every round and records one `AuditCheck` per thing it checked:

* `round-sequence`: rounds 0..n-1 all exist, every round but the last is finalized, and each opens
  after the previous one was finalized;
* `base-model`: each round's base model is the previous round's model (hash and CID);
* `artifact`: every model, update and metrics file is in the store, its bytes match its CID, and
  their SHA-256 equals the hash on chain;
* `membership`: each update came from a hospital that was a member when it was submitted
  (replayed from `HospitalAdded` / `HospitalRemoved`);
* `freshness`: each update's consent block is not in its future and not older than the last
  revocation among the hospital's patients before it was submitted;
* `aggregation`: each finalized round's metrics artifact lists every update on chain (the
  contract made the aggregator name how many it considered) as aggregated or rejected;
* `exclusion`: for every patient who revoked consent given to a hospital (and did not grant it to
  that hospital again), every later update of that hospital has a published non-membership proof
  that verifies against its on-chain `dataRoot`. Expiry counts like revocation: a patient whose
  consent with the hospital had expired by the block the update landed in (the grant's
  `expiresAt` <= that block's timestamp) needs the same proof.

Verification failures are data (`AuditCheck.passed` False, with the round, hospital and what
failed); infrastructure failures are raised: `ChainConnectionError`/web3 errors when the node is
down, `StoreUnavailableError` when the IPFS node is, `UnknownStudyError` for an unknown study.
Expired consent leaves no event: the auditor computes it from the grant record's `expiresAt`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from chain.deploy import Ledger
from chain.errors import UnknownStudyError
from chain.events import HospitalAdded, HospitalRemoved, LedgerEvent, UpdateSubmitted
from chain.exclusions import ExclusionProofs
from chain.round_ledger import Round, RoundState, UpdateRecord
from chain.round_metrics import check_aggregation
from chain.store import (
    ArtifactNotFoundError,
    ArtifactStore,
    CorruptArtifactError,
    InvalidCidError,
    compute_cid,
    parse_cid,
)
from consent.errors import MalformedProofError
from consent.events import ConsentGranted, ConsentRevoked, EventPosition
from consent.ids import Address, Bytes32, StudyId
from consent.smt import verify_non_membership

__all__ = ["CHECKS", "AuditCheck", "AuditReport", "AuditVerifier"]

logger = logging.getLogger(__name__)

CHECKS: Final = (
    "round-sequence",
    "base-model",
    "artifact",
    "membership",
    "freshness",
    "aggregation",
    "exclusion",
)
_EVENT_CHUNK: Final = 2_000
"""Blocks per log query (eth-tester's look-up cost grows with the range)."""


@dataclass(frozen=True, slots=True)
class AuditCheck:
    """One verified fact; on failure `detail` says what is wrong."""

    check: str
    passed: bool
    subject: str
    detail: str
    round: int | None = None
    hospital: Address | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "check": self.check,
            "passed": self.passed,
            "round": self.round,
            "hospital": self.hospital,
            "subject": self.subject,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class AuditReport:
    """Everything the verifier checked for one study, up to `block`."""

    study: StudyId
    block: int
    rounds: int
    checks: tuple[AuditCheck, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        """True when every check passed."""
        return all(check.passed for check in self.checks)

    @property
    def failures(self) -> tuple[AuditCheck, ...]:
        """The checks that failed."""
        return tuple(check for check in self.checks if not check.passed)

    def to_json(self) -> dict[str, Any]:
        """`{"passed": bool, "checks": [...]}` plus the study, block and round count."""
        return {
            "passed": self.passed,
            "study": "0x" + bytes(self.study).hex(),
            "block": self.block,
            "rounds": self.rounds,
            "checks": [check.to_json() for check in self.checks],
        }


@dataclass(frozen=True, slots=True)
class _History:
    """The study's events the checks need, in chain order."""

    consent: tuple[ConsentGranted | ConsentRevoked, ...]
    membership: tuple[HospitalAdded | HospitalRemoved, ...]
    submissions: dict[tuple[int, str], EventPosition]


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


class AuditVerifier:
    """Checks a study on one deployment against an artifact store and published proofs."""

    def __init__(
        self, ledger: Ledger, store: ArtifactStore, proofs: ExclusionProofs | None = None
    ) -> None:
        self._ledger = ledger
        self._store = store
        self._proofs = proofs if proofs is not None else ExclusionProofs()

    def verify(self, study: StudyId) -> AuditReport:
        """Check every round of `study`; raises `UnknownStudyError` if it does not exist."""
        ledger = self._ledger
        if not ledger.studies.study_exists(study):
            raise UnknownStudyError({"study_id": bytes(study)})
        block = ledger.chain.block_number()
        count = ledger.rounds.round_count(study)
        rounds = [ledger.rounds.get_round(study, r) for r in range(count)]
        updates = [ledger.rounds.get_updates(study, r) for r in range(count)]
        history = self._history(study, block)
        checks: list[AuditCheck] = []
        checks.extend(self._sequence(rounds, count))
        checks.extend(self._base_models(rounds))
        checks.extend(self._artifacts(rounds, updates))
        for r, u in zip(rounds, updates, strict=True):
            if r.state is RoundState.FINALIZED:
                found = check_aggregation(self._store, r, u)
                subject = f"metrics {r.metrics_cid}"
                checks.append(
                    AuditCheck("aggregation", found.passed, subject, found.detail, r.round)
                )
        for round_, round_updates in zip(rounds, updates, strict=True):
            for update in round_updates:
                position = history.submissions.get((round_.round, update.hospital.lower()))
                checks.append(self._membership(round_.round, update, position, history))
                checks.append(self._freshness(round_.round, update, position, history))
                submitted_at = (
                    None
                    if position is None
                    else ledger.chain.block_timestamp(position.block_number)
                )
                checks.extend(self._exclusions(study, round_.round, update, history, submitted_at))
        checks.extend(
            AuditCheck("exclusion", False, error.source, f"unreadable proof file: {error.reason}")
            for error in self._proofs.errors
        )
        report = AuditReport(study=study, block=block, rounds=count, checks=tuple(checks))
        logger.info(
            "audit of %s: %d checks, %d failed", _hex(study), len(checks), len(report.failures)
        )
        return report

    # --- chain history -----------------------------------------------------------------------

    def _events(self, fetch: Callable[[int, int], list[LedgerEvent]], last: int) -> Iterable[Any]:
        start = self._ledger.manifest.deploy_block
        while start <= last:
            end = min(start + _EVENT_CHUNK - 1, last)
            yield from fetch(start, end)
            start = end + 1

    def _history(self, study: StudyId, block: int) -> _History:
        ledger = self._ledger
        consent = tuple(
            e
            for e in self._events(ledger.consents.events, block)
            if isinstance(e, ConsentGranted | ConsentRevoked) and e.study == study
        )
        membership = tuple(
            e
            for e in self._events(ledger.studies.events, block)
            if isinstance(e, HospitalAdded | HospitalRemoved) and e.study == study
        )
        submissions = {
            (e.round, e.hospital.lower()): e.position
            for e in self._events(ledger.rounds.events, block)
            if isinstance(e, UpdateSubmitted) and e.study == study
        }
        return _History(consent, membership, submissions)

    # --- checks ------------------------------------------------------------------------------

    @staticmethod
    def _sequence(rounds: Sequence[Round], count: int) -> list[AuditCheck]:
        checks: list[AuditCheck] = []
        for index, round_ in enumerate(rounds):
            problems: list[str] = []
            if round_.state is RoundState.NONE:
                problems.append("round is missing on chain")
            elif index < count - 1 and round_.state is not RoundState.FINALIZED:
                problems.append("a later round exists but this one is not finalized")
            if index > 0:
                previous = rounds[index - 1]
                if round_.opened_block < previous.finalized_block:
                    problems.append(
                        f"opened at block {round_.opened_block}, before round {index - 1} was "
                        f"finalized at block {previous.finalized_block}"
                    )
            state = round_.state.name.lower()
            checks.append(
                AuditCheck(
                    "round-sequence",
                    not problems,
                    "round",
                    "; ".join(problems) or f"round {index} {state}, in order",
                    round=index,
                )
            )
        return checks

    @staticmethod
    def _base_models(rounds: Sequence[Round]) -> list[AuditCheck]:
        checks: list[AuditCheck] = []
        for index, round_ in enumerate(rounds):
            if index == 0:
                checks.append(
                    AuditCheck(
                        "base-model",
                        True,
                        "base model",
                        f"round 0 starts from the initial model {_hex(round_.base_model_hash)}",
                        round=0,
                    )
                )
                continue
            previous = rounds[index - 1]
            same = (
                round_.base_model_hash == previous.model_hash
                and round_.base_model_cid == previous.model_cid
            )
            detail = (
                f"base model is round {index - 1}'s model"
                if same
                else f"base model {_hex(round_.base_model_hash)} ({round_.base_model_cid}) is "
                f"not round {index - 1}'s model {_hex(previous.model_hash)} ({previous.model_cid})"
            )
            checks.append(AuditCheck("base-model", same, "base model", detail, round=index))
        return checks

    def _artifacts(
        self, rounds: Sequence[Round], updates: Sequence[Sequence[UpdateRecord]]
    ) -> list[AuditCheck]:
        checks: list[AuditCheck] = []
        for round_, round_updates in zip(rounds, updates, strict=True):
            r = round_.round
            if r == 0:
                checks.append(
                    self._artifact(
                        r, None, "base model", round_.base_model_cid, round_.base_model_hash
                    )
                )
            for update in round_updates:
                checks.append(
                    self._artifact(
                        r, update.hospital, "update", update.update_cid, update.update_hash
                    )
                )
            if round_.state is RoundState.FINALIZED:
                checks.append(self._artifact(r, None, "model", round_.model_cid, round_.model_hash))
                if round_.metrics_cid:
                    checks.append(self._artifact(r, None, "metrics", round_.metrics_cid, None))
        return checks

    def _artifact(
        self, round_: int, hospital: Address | None, what: str, cid: str, sha256: Bytes32 | None
    ) -> AuditCheck:
        def result(passed: bool, detail: str) -> AuditCheck:
            return AuditCheck("artifact", passed, f"{what} {cid}", detail, round_, hospital)

        try:
            data = self._store.get(cid)
        except ArtifactNotFoundError as exc:
            return result(False, f"missing from the store: {exc}")
        except CorruptArtifactError as exc:
            return result(False, f"bytes do not match the CID: {exc.reason}")
        except InvalidCidError as exc:
            return result(False, f"CID on chain is not usable: {exc.reason}")
        # The store verifies what it returns; recomputing keeps the auditor independent of it.
        if compute_cid(data) != str(parse_cid(cid)):
            return result(False, "bytes do not hash to the CID on chain")
        if sha256 is not None:
            digest = hashlib.sha256(data).digest()
            if digest != bytes(sha256):
                return result(
                    False, f"SHA-256 {_hex(digest)} differs from the chain's {_hex(sha256)}"
                )
        shown = "CID" if sha256 is None else "CID and SHA-256"
        return result(True, f"{len(data)} bytes match the {shown} on chain")

    @staticmethod
    def _membership(
        round_: int, update: UpdateRecord, position: EventPosition | None, history: _History
    ) -> AuditCheck:
        member = False
        for event in history.membership:
            if position is not None and event.position > position:
                break
            if event.hospital == update.hospital:
                member = isinstance(event, HospitalAdded)
        detail = (
            "submitted by a member hospital"
            if member
            else "submitted by a hospital that was not a member of the study at the time"
        )
        return AuditCheck("membership", member, "update", detail, round_, update.hospital)

    @staticmethod
    def _freshness(
        round_: int, update: UpdateRecord, position: EventPosition | None, history: _History
    ) -> AuditCheck:
        def result(passed: bool, detail: str) -> AuditCheck:
            return AuditCheck("freshness", passed, "update", detail, round_, update.hospital)

        if position is None:
            return result(False, "no UpdateSubmitted event for this update")
        if update.consent_block > position.block_number:
            return result(
                False,
                f"consent block {update.consent_block} is after submission block "
                f"{position.block_number}",
            )
        last_revocation = max(
            (
                e.position.block_number
                for e in history.consent
                if isinstance(e, ConsentRevoked)
                and e.hospital == update.hospital
                and e.position < position
            ),
            default=0,
        )
        if update.consent_block < last_revocation:
            return result(
                False,
                f"consent view at block {update.consent_block} predates a revocation at block "
                f"{last_revocation}",
            )
        return result(True, f"consent view at block {update.consent_block} was current")

    @staticmethod
    def _must_exclude(
        update: UpdateRecord, history: _History, submitted_at: int | None
    ) -> dict[str, tuple[Address, str]]:
        """Patients (lowercase -> address, why) the update must leave out: revoked at or before
        its consent block, or expired by the time it landed."""
        excluded: dict[str, tuple[Address, str]] = {}
        latest: dict[str, ConsentGranted | ConsentRevoked] = {}
        for event in history.consent:
            if event.position.block_number > update.consent_block:
                break
            latest[event.patient.lower()] = event
            if event.hospital != update.hospital:
                continue
            if isinstance(event, ConsentRevoked):
                excluded[event.patient.lower()] = (event.patient, "revoked")
            else:
                excluded.pop(event.patient.lower(), None)
        for key, event in latest.items():
            if (
                isinstance(event, ConsentGranted)
                and event.hospital == update.hospital
                and event.expires_at != 0
                and (submitted_at is None or event.expires_at <= submitted_at)
            ):
                excluded[key] = (event.patient, "expired")
        return excluded

    def _exclusions(
        self,
        study: StudyId,
        round_: int,
        update: UpdateRecord,
        history: _History,
        submitted_at: int | None,
    ) -> list[AuditCheck]:
        """One check per patient the update must exclude (revoked or expired)."""
        checks: list[AuditCheck] = []
        for patient, why in self._must_exclude(update, history, submitted_at).values():
            proof = self._proofs.lookup(study, update.hospital, update.data_root, patient)
            root = _hex(update.data_root)
            if proof is None:
                passed, detail = False, f"no non-membership proof against dataRoot {root}"
            elif isinstance(proof, MalformedProofError):
                passed, detail = False, f"malformed non-membership proof: {proof}"
            elif verify_non_membership(update.data_root, patient, proof):
                passed, detail = True, f"absent from dataRoot {root}"
            else:
                passed, detail = False, f"proof does not verify against dataRoot {root}"
            checks.append(
                AuditCheck(
                    "exclusion",
                    passed,
                    f"{why} patient {patient}",
                    detail,
                    round_,
                    update.hospital,
                )
            )
        return checks
