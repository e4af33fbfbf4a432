"""The relayer's journal: signed revocations it accepted and has not yet seen mined.

The relay writes an entry before it sends the batch carrying it and drops the entry once the
batch's receipt says what happened to it, so a relayer killed in between finds the revocation
here on restart and sends it again. Resending is idempotent: `revokeBatchWithSig` skips a
patient whose consent is already revoked (`NoActiveConsent`), so a revocation whose first
transaction did land is not applied twice.

The file is JSON, rewritten whole through a temp file and a rename at mode 0600
(`consent.private_file`): a reader never sees half of it. It holds only what is public on
chain once mined (study, patient address, deadline, signature), never a key.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

from chain.consent_registry import SignedRevocation
from chain.errors import ChainError
from consent.ids import Address, StudyId, parse_address
from consent.private_file import write_private_file

__all__ = ["JournalEntry", "RelayJournalError", "RevocationJournal"]

_VERSION: Final = 1

JournalEntry = tuple[StudyId, SignedRevocation]


class RelayJournalError(ChainError, ValueError):
    """The journal file cannot be read as a revocation journal (it is left as it is)."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"relayer journal {path}: {reason}")
        self.path = path


def _entry(raw: Any) -> JournalEntry:
    study = StudyId(bytes.fromhex(str(raw["study"]).removeprefix("0x")))
    if len(study) != 32:
        raise ValueError("a study id is 32 bytes")
    signature = bytes.fromhex(str(raw["signature"]).removeprefix("0x"))
    return study, SignedRevocation(parse_address(raw["patient"]), int(raw["deadline"]), signature)


class RevocationJournal:
    """Accepted-but-unmined revocations, keyed by (study, patient); thread-safe."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._entries: dict[tuple[StudyId, Address], SignedRevocation] = {}
        if self.path.exists():
            for study, revocation in self._load():
                self._entries[(study, revocation.patient)] = revocation

    def _load(self) -> list[JournalEntry]:
        try:
            document = json.loads(self.path.read_text())
            if document.get("version") != _VERSION:
                raise ValueError(f"version {document.get('version')!r}, expected {_VERSION}")
            return [_entry(raw) for raw in document["pending"]]
        except OSError as exc:
            raise RelayJournalError(self.path, exc.strerror or str(exc)) from exc
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise RelayJournalError(self.path, f"not a revocation journal ({exc})") from exc

    def pending(self) -> list[JournalEntry]:
        """The entries still waiting to be seen mined, in the order they were accepted."""
        with self._lock:
            return [(study, revocation) for (study, _), revocation in self._entries.items()]

    def add(self, study: StudyId, revocations: Iterable[SignedRevocation]) -> None:
        """Record `revocations` durably (call before sending them)."""
        with self._lock:
            for revocation in revocations:
                self._entries[(study, revocation.patient)] = revocation
            self._write()

    def remove(self, study: StudyId, patients: Iterable[Address]) -> None:
        """Forget entries whose outcome is known (mined, skipped, or refused outright)."""
        with self._lock:
            changed = False
            for patient in patients:
                changed |= self._entries.pop((study, patient), None) is not None
            if changed:
                # not fsynced: losing this write only resends entries the chain skips
                self._write(durable=False)

    def _write(self, *, durable: bool = True) -> None:
        document = {
            "version": _VERSION,
            "pending": [
                {
                    "study": "0x" + bytes(study).hex(),
                    "patient": revocation.patient,
                    "deadline": revocation.deadline,
                    "signature": "0x" + revocation.signature.hex(),
                }
                for (study, _), revocation in self._entries.items()
            ],
        }
        # compact: with an indent `json` encodes in Python, ~10x slower (a write per batch)
        text = json.dumps(document, separators=(",", ":"))
        write_private_file(self.path, text.encode(), durable=durable)
