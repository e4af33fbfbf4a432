"""What every artifact format shares: a versioned format tag, canonical JSON, an extensions map."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from consent.errors import ConsentError

__all__ = ["Family", "FormatError", "UnknownFormatError", "canonical_json", "extensions_of"]


class FormatError(ConsentError, ValueError):
    """A document that claims a format but does not follow it."""


class UnknownFormatError(FormatError):
    """A document of another format, or of a version this reader does not know."""

    def __init__(self, family: str, found: object) -> None:
        super().__init__(f"not a {family} document: format {found!r}")
        self.family = family
        self.found = found


@dataclass(frozen=True, slots=True)
class Family:
    """One format's name and the versions this code reads; it writes the latest."""

    name: str
    """e.g. "consentfl.round-metrics"."""
    versions: tuple[int, ...]

    @property
    def latest(self) -> str:
        """The tag this code writes."""
        return f"{self.name}/{max(self.versions)}"

    def tag(self, version: int) -> str:
        """The tag of `version`."""
        return f"{self.name}/{version}"

    def claims(self, body: object) -> bool:
        """Whether `body` says it is of this family (any version, known or not)."""
        return isinstance(body, Mapping) and str(body.get("format", "")).startswith(self.name + "/")

    def parse(self, body: object) -> int:
        """The version of `body`; raises `UnknownFormatError` unless it is one this code reads."""
        found = body.get("format") if isinstance(body, Mapping) else None
        for version in self.versions:
            if found == self.tag(version):
                return version
        raise UnknownFormatError(self.name, found)


def canonical_json(body: Mapping[str, Any]) -> bytes:
    """Sorted keys, no whitespace: equal documents give equal bytes, hence equal CIDs."""
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def extensions_of(body: Mapping[str, Any]) -> dict[str, Any]:
    """The document's `extensions` map (empty when absent, as in older versions)."""
    found = body.get("extensions", {})
    if not isinstance(found, Mapping):
        raise FormatError("extensions must be an object")
    return dict(found)
