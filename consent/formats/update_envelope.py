"""The update envelope: what a hospital's update says about itself, inside the encoded bytes.

The trainer serializes its tensors with safetensors and stores this envelope as the file's
metadata (a string map), then hands the bytes to the study's codec (`fl.codecs`: today "sealed",
X25519 + AES-GCM to the aggregator). The aggregator decodes, reads the envelope back and refuses an
update whose envelope names another round, hospital or codec (a replayed or misfiled update)::

    {"format": "consentfl.update/1", "round": "3", "hospital": "0x..", "codec": "sealed",
     "extensions": "{}"}

Values are strings (safetensors metadata); `extensions` is canonical JSON of an object that
readers which do not know a key ignore.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from consent.formats._document import Family, FormatError, canonical_json

__all__ = ["ENVELOPE", "ENVELOPE_FORMAT", "UpdateEnvelope"]

ENVELOPE: Final = Family("consentfl.update", (1,))
ENVELOPE_FORMAT: Final = ENVELOPE.latest


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateEnvelope:
    """Which round and hospital an update belongs to, and how it was encoded."""

    round: int
    hospital: str
    codec: str
    extensions: Mapping[str, Any] = field(default_factory=dict)

    def to_metadata(self) -> dict[str, str]:
        """The safetensors metadata map."""
        return {
            "format": ENVELOPE_FORMAT,
            "round": str(self.round),
            "hospital": self.hospital,
            "codec": self.codec,
            "extensions": canonical_json(dict(self.extensions)).decode(),
        }

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, str]) -> UpdateEnvelope:
        """Parse `to_metadata` output; raises `UnknownFormatError` / `FormatError`."""
        ENVELOPE.parse(metadata)
        try:
            extensions = json.loads(metadata.get("extensions", "{}"))
            if not isinstance(extensions, dict):
                raise TypeError("extensions must be an object")
            return cls(
                round=int(metadata["round"]),
                hospital=str(metadata["hospital"]),
                codec=str(metadata["codec"]),
                extensions=extensions,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise FormatError(f"malformed update envelope: {exc!r}") from exc

    def mismatch(self, *, round_: int, hospital: str, codec: str) -> str | None:
        """Why this envelope does not belong to (`round_`, `hospital`, `codec`), or None."""
        if self.round != round_:
            return f"the update is for round {self.round}, not {round_}"
        if self.hospital.lower() != hospital.lower():
            return f"the update names hospital {self.hospital}, not its submitter {hospital}"
        if self.codec != codec:
            return f"the update was encoded with {self.codec!r}, the study uses {codec!r}"
        return None
