"""Exclusion proofs as hospitals publish them: one JSON file per (round, revoked patient).

The file format is `consent.formats.exclusion_proof` (whose docstring is its reference); the
trainer writes it with the same definition. The auditor keys a proof by (study, hospital,
data_root, patient): the data root is what the chain records, so a file's `round` and path are
informative only. Files of another format are ignored; a file that claims the format but cannot
be parsed (or is of a version this reader does not know) is kept as an error so the audit
reports it. Keys this reader does not know, `extensions` among them, are ignored.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from chain.errors import ChainError
from consent.errors import MalformedProofError
from consent.formats import UnknownFormatError, canonical_json
from consent.formats.exclusion_proof import PROOF, PROOF_FORMAT
from consent.ids import InvalidIdentifierError, parse_address, parse_bytes32
from consent.smt import SmtProof

__all__ = [
    "PROOF_FORMAT",
    "ExclusionFileError",
    "ExclusionProofs",
    "ProofEntry",
    "PublishedProof",
]

logger = logging.getLogger(__name__)

_MAX_FILE_BYTES: Final = 16 * 1024 * 1024


class ExclusionFileError(ChainError, ValueError):
    """An exclusion proof file that is not valid JSON of the expected shape."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


ProofEntry = SmtProof | MalformedProofError
"""A parsed proof, or why it could not be parsed."""


@dataclass(frozen=True, slots=True)
class PublishedProof:
    """One proof file as published: every file is kept, so none can shadow another (the
    `proof-files` audit check verifies each on its own and names duplicates)."""

    source: str
    study: bytes
    hospital: str
    """Lowercase address."""
    round: int | None
    """The round the file names (informative: the chain's data root is what counts)."""
    data_root: bytes
    patient: str
    """Lowercase address."""
    entry: ProofEntry
    digest: bytes
    """SHA-256 of the canonical JSON of the file's `proof` object: files with equal digests (and
    key) publish the same proof, e.g. for two rounds whose data roots are equal."""


def _proof_digest(proof: object) -> bytes:
    body = canonical_json(dict(proof)) if isinstance(proof, Mapping) else repr(proof).encode()
    return hashlib.sha256(body).digest()


class ExclusionProofs:
    """Published exclusion proofs, looked up by (study, hospital, data root, patient)."""

    def __init__(self) -> None:
        self._proofs: dict[tuple[bytes, str, bytes, str], ProofEntry] = {}
        self.errors: list[ExclusionFileError] = []
        self.files: list[PublishedProof] = []
        """Every file added, in load order, duplicates included."""

    def add(self, body: Mapping[str, Any], source: str = "<memory>") -> None:
        """Add one parsed proof file; a malformed header raises `ExclusionFileError`, a malformed
        proof is stored as its `MalformedProofError`."""
        try:
            key = (
                bytes(parse_bytes32(body["study"])),
                parse_address(body["hospital"]).lower(),
                bytes(parse_bytes32(body["data_root"])),
                parse_address(body["patient"]).lower(),
            )
        except (KeyError, TypeError, InvalidIdentifierError) as exc:
            raise ExclusionFileError(
                source, f"bad study, hospital, data_root or patient: {exc}"
            ) from exc
        entry: ProofEntry
        try:
            raw = body["proof"]
            if not isinstance(raw, Mapping):
                raise MalformedProofError(f"{source}: 'proof' must be an object")
            entry = SmtProof.from_json(raw)
        except KeyError:
            entry = MalformedProofError(f"{source}: no 'proof'")
        except MalformedProofError as exc:
            entry = exc
        self._proofs.setdefault(key, entry)  # lookups see the first; `files` keeps every one
        round_ = body.get("round")
        self.files.append(
            PublishedProof(
                source=source,
                study=key[0],
                hospital=key[1],
                round=round_ if isinstance(round_, int) and not isinstance(round_, bool) else None,
                data_root=key[2],
                patient=key[3],
                entry=entry,
                digest=_proof_digest(body.get("proof")),
            )
        )

    @classmethod
    def load(cls, directory: Path) -> ExclusionProofs:
        """Every proof file under `directory` (recursively); unreadable ones go to `errors`."""
        found = cls()
        for path in sorted(directory.rglob("*.json")):
            try:
                if path.stat().st_size > _MAX_FILE_BYTES:
                    raise ValueError("file too large")
                body = json.loads(path.read_text())
            except (OSError, ValueError) as exc:
                found.errors.append(ExclusionFileError(str(path), str(exc)))
                continue
            if not PROOF.claims(body):
                continue
            try:
                PROOF.parse(body)
            except UnknownFormatError as exc:
                found.errors.append(ExclusionFileError(str(path), str(exc)))
                continue
            try:
                found.add(body, str(path))
            except ExclusionFileError as exc:
                found.errors.append(exc)
        logger.info("loaded %d exclusion proofs from %s", len(found), directory)
        return found

    def __len__(self) -> int:
        return len(self.files)

    def lookup(
        self, study: bytes, hospital: str, data_root: bytes, patient: str
    ) -> ProofEntry | None:
        """The published proof that `patient` is absent from `data_root`, if any."""
        return self._proofs.get((bytes(study), hospital.lower(), bytes(data_root), patient.lower()))
