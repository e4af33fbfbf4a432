"""The round metrics artifact (`metricsCid` of a finalized round): which updates the model covers.

Written by the aggregator (`fl.roles.aggregator`), read by the audit (`chain.round_metrics`).
Canonical JSON, version 2::

    {"format": "consentfl.round-metrics/2", "round": 3,
     "accepted": [{"hospital": "0x..", "num_patients": 70}],   # weight = on-chain count
     "rejected": [{"hospital": "0x..", "reason": "..."}],
     "decisions": [{"hospital": "0x..", "kept": true, "weight": 0.55, "reason": ""}],
     "missing": ["0x.."],
     "strategy": {"name": "fedavg", "options": {...}},
     "test": {"task": "classification", "num_samples": 114, "loss": 0.2, "accuracy": 0.95} | null,
     "extensions": {}}

`decisions` (new in version 2) is the strategy's report: one entry per update the aggregator
considered, in the round's order, kept with the weight it got in the combination or rejected with
the reason. `num_patients` is the update's aggregation weight: the patient count the contract
bounded by the hospital's active consents and recorded with the update (issue 11, H3); the audit
requires them to agree. Version 1 has no `decisions` and no `extensions`; it is still read
(decisions empty; an entry without `num_patients`, as early version-1 documents wrote
`num_samples`, reads as an unknown weight, which the audit reports).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from consent.formats._document import Family, FormatError, canonical_json, extensions_of

__all__ = ["CONTRIBUTIONS", "METRICS", "METRICS_FORMAT", "Decision", "RoundMetrics"]

METRICS: Final = Family("consentfl.round-metrics", (1, 2))
METRICS_FORMAT: Final = METRICS.latest

CONTRIBUTIONS: Final = "contributions"
"""The `extensions` key of the round's contribution values (issue 15), when the plan names a
valuation: `{"method": "gtg", "gain": 0.05, "evaluations": 40, "values": [{"hospital": "0x..",
"value": 0.02}]}`, one value per update the strategy judged, summing to the round's gain."""


@dataclass(frozen=True, slots=True)
class Decision:
    """What the strategy did with one considered update."""

    hospital: str
    kept: bool
    weight: float
    """The update's share of the combination (0 when rejected)."""
    reason: str = ""
    """Why it was rejected (or down-weighted); empty when simply kept."""

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "hospital": self.hospital,
            "kept": self.kept,
            "weight": self.weight,
            "reason": self.reason,
        }

    @classmethod
    def from_json_dict(cls, body: Mapping[str, Any]) -> Decision:
        kept = body["kept"]
        if not isinstance(kept, bool):
            raise TypeError("kept must be true or false")
        return cls(str(body["hospital"]), kept, float(body["weight"]), str(body["reason"]))


@dataclass(frozen=True, slots=True, kw_only=True)
class RoundMetrics:
    """One finalized round's account of its updates, its strategy and its test metrics."""

    round: int
    accepted: tuple[tuple[str, int | None], ...]
    """(hospital, num_patients) of the updates aggregated; None when the document has no
    `num_patients` for it."""
    rejected: tuple[tuple[str, str], ...]
    """(hospital, reason) of the updates left out."""
    decisions: tuple[Decision, ...] = ()
    missing: tuple[str, ...] = ()
    strategy: Mapping[str, Any] = field(default_factory=dict)
    test: Mapping[str, Any] | None = None
    extensions: Mapping[str, Any] = field(default_factory=dict)
    version: int = max(METRICS.versions)

    def to_json_bytes(self) -> bytes:
        """Canonical JSON of the latest version."""
        return canonical_json(
            {
                "format": METRICS_FORMAT,
                "round": self.round,
                "accepted": [{"hospital": h, "num_patients": n} for h, n in self.accepted],
                "rejected": [{"hospital": h, "reason": r} for h, r in self.rejected],
                "decisions": [d.to_json_dict() for d in self.decisions],
                "missing": list(self.missing),
                "strategy": dict(self.strategy),
                "test": None if self.test is None else dict(self.test),
                "extensions": dict(self.extensions),
            }
        )

    def judgement_digest(self) -> bytes:
        """SHA-256 of the canonical JSON of the round, its decisions and its contribution values
        (`extensions["contributions"]`, null without): what the Contributions contract records
        for the round, so the metrics artifact's judgement can be checked against the chain."""
        body = {
            "round": self.round,
            "decisions": [d.to_json_dict() for d in self.decisions],
            "contributions": self.extensions.get(CONTRIBUTIONS),
        }
        return hashlib.sha256(canonical_json(body)).digest()

    def contribution_values(self) -> dict[str, float]:
        """Hospital -> contribution value of the round (empty without a valuation)."""
        found = self.extensions.get(CONTRIBUTIONS)
        if not isinstance(found, Mapping):
            return {}
        try:
            return {str(e["hospital"]): float(e["value"]) for e in found["values"]}
        except (KeyError, TypeError, ValueError) as exc:
            raise FormatError(f"malformed contribution values: {exc!r}") from exc

    @classmethod
    def from_json_bytes(cls, data: bytes) -> RoundMetrics:
        """Parse any known version; raises `UnknownFormatError` / `FormatError`."""
        try:
            body = json.loads(data)
        except ValueError as exc:
            raise FormatError(f"round metrics are not JSON: {exc}") from exc
        version = METRICS.parse(body)
        try:
            return cls(
                round=_int(body["round"]),
                accepted=tuple(
                    (str(e["hospital"]), _weight(e.get("num_patients")))
                    for e in _list(body, "accepted")
                ),
                rejected=tuple(
                    (str(e["hospital"]), str(e.get("reason", ""))) for e in _list(body, "rejected")
                ),
                decisions=tuple(
                    Decision.from_json_dict(e) for e in _list(body, "decisions", version >= 2)
                ),
                missing=tuple(str(h) for h in body.get("missing", [])),
                strategy=dict(body.get("strategy") or {}),
                test=body.get("test"),
                extensions=extensions_of(body),
                version=version,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise FormatError(f"malformed {METRICS.tag(version)} document: {exc!r}") from exc


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def _weight(value: object) -> int | None:
    return None if value is None else _int(value)


def _list(body: Mapping[str, Any], key: str, required: bool = True) -> list[Mapping[str, Any]]:
    if key not in body and not required:
        return []
    entries = body[key]
    if not isinstance(entries, list) or not all(isinstance(e, Mapping) for e in entries):
        raise TypeError(f"{key} is not a list of objects")
    return entries
