"""Dataset cards: what a hospital publishes about a dataset, with no personal data.

A card holds the schema (column names and dtypes, and their hash), the row count, the
quasi-identifiers and sensitive columns it was assessed on, the anonymity scores (k, l, t) and
the attack-based risks with their confidence intervals, whether the rows are synthetic, and the
versions of the tools that computed them. Its canonical JSON bytes go to the artifact store; their
SHA-256 and the scores in on-chain units (`OnChainScores`) go to the DatasetInventory, and the
auditor checks one against the other.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any, Final

from consent.dataset_errors import MalformedCardError

__all__ = [
    "CARD_KIND",
    "CARD_VERSION",
    "PPM",
    "RISK_NAMES",
    "AdmissionThresholds",
    "DatasetCard",
    "OnChainScores",
    "Risk",
    "first_failure",
    "schema_hash",
    "to_ppm",
]

CARD_KIND: Final = "consentfl.dataset-card"
CARD_VERSION: Final = 1
PPM: Final = 1_000_000
RISK_NAMES: Final = ("singling_out", "linkability", "inference")


def to_ppm(value: float) -> int:
    """`value` in [0, 1] as parts per million, rounded up (a registered score is never better
    than the measured one)."""
    if not 0.0 <= value <= 1.0 or math.isnan(value):
        raise MalformedCardError(f"a fraction must lie in [0, 1], got {value}")
    return min(PPM, math.ceil(round(value * PPM, 6)))


def schema_hash(columns: tuple[tuple[str, str], ...]) -> str:
    """SHA-256 (hex) of the canonical JSON of (name, dtype) pairs in file order."""
    return hashlib.sha256(json.dumps([list(c) for c in columns]).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Risk:
    """An attack's success rate above the control baseline, with its confidence interval."""

    value: float
    ci_low: float
    ci_high: float

    def to_json(self) -> dict[str, float]:
        """A JSON-ready dict."""
        return {"value": self.value, "ci_low": self.ci_low, "ci_high": self.ci_high}


@dataclass(frozen=True, slots=True)
class OnChainScores:
    """A card's scores as the DatasetInventory stores them (integers; ppm for fractions)."""

    k: int
    l: int  # noqa: E741 - the name of the l-diversity score
    t_closeness_ppm: int
    singling_out_risk_ppm: int
    linkability_risk_ppm: int
    inference_risk_ppm: int
    rows: int
    synthetic: bool


@dataclass(frozen=True, slots=True)
class AdmissionThresholds:
    """A study's admission thresholds; `max_risk_ppm` bounds each of the three risks."""

    min_k: int
    min_l: int
    max_t_closeness_ppm: int
    max_risk_ppm: int
    allow_synthetic: bool


def first_failure(thresholds: AdmissionThresholds, scores: OnChainScores) -> str | None:
    """The first criterion `scores` fails, in the contract's order, or None (mirrors
    `DatasetInventory._failure` so the CLI and the audit say what the contract would)."""
    checks = (
        ("synthetic", scores.synthetic and not thresholds.allow_synthetic),
        ("k", scores.k < thresholds.min_k),
        ("l", scores.l < thresholds.min_l),
        ("t", scores.t_closeness_ppm > thresholds.max_t_closeness_ppm),
        ("singling-out", scores.singling_out_risk_ppm > thresholds.max_risk_ppm),
        ("linkability", scores.linkability_risk_ppm > thresholds.max_risk_ppm),
        ("inference", scores.inference_risk_ppm > thresholds.max_risk_ppm),
    )
    return next((name for name, failed in checks if failed), None)


@dataclass(frozen=True, slots=True)
class DatasetCard:
    """One dataset's card. Holds column names, counts and scores, never a row."""

    columns: tuple[tuple[str, str], ...]
    rows: int
    quasi_identifiers: tuple[str, ...]
    sensitive: tuple[str, ...]
    k: int
    l: int  # noqa: E741 - the name of the l-diversity score
    t_closeness: float
    risks: dict[str, Risk]
    synthetic: bool
    tools: dict[str, str]
    extensions: dict[str, Any]

    @property
    def schema_sha256(self) -> str:
        """The schema hash (names and dtypes in order)."""
        return schema_hash(self.columns)

    def on_chain(self) -> OnChainScores:
        """The scores to register: risks as the upper bound of their confidence interval."""
        return OnChainScores(
            k=self.k,
            l=self.l,
            t_closeness_ppm=to_ppm(self.t_closeness),
            singling_out_risk_ppm=to_ppm(self.risks["singling_out"].ci_high),
            linkability_risk_ppm=to_ppm(self.risks["linkability"].ci_high),
            inference_risk_ppm=to_ppm(self.risks["inference"].ci_high),
            rows=self.rows,
            synthetic=self.synthetic,
        )

    def to_json(self) -> dict[str, Any]:
        """The card as a JSON-ready dict."""
        return {
            "kind": CARD_KIND,
            "version": CARD_VERSION,
            "schema": {"columns": [list(c) for c in self.columns], "sha256": self.schema_sha256},
            "rows": self.rows,
            "quasi_identifiers": list(self.quasi_identifiers),
            "sensitive": list(self.sensitive),
            "scores": {
                "k": self.k,
                "l": self.l,
                "t_closeness": self.t_closeness,
                "risks": {name: self.risks[name].to_json() for name in RISK_NAMES},
            },
            "synthetic": self.synthetic,
            "tools": dict(self.tools),
            "extensions": dict(self.extensions),
        }

    def to_bytes(self) -> bytes:
        """Canonical JSON bytes (sorted keys): what is stored and hashed."""
        return (json.dumps(self.to_json(), sort_keys=True, indent=2) + "\n").encode()

    @property
    def sha256(self) -> bytes:
        """SHA-256 of `to_bytes()`: the card hash registered on chain."""
        return hashlib.sha256(self.to_bytes()).digest()

    @classmethod
    def from_bytes(cls, data: bytes) -> DatasetCard:
        """Parse a card; raises `MalformedCardError`. Unknown `extensions` keys are kept."""
        try:
            body = json.loads(data)
            if body.get("kind") != CARD_KIND or body.get("version") != CARD_VERSION:
                raise MalformedCardError(
                    f"not a dataset card of version {CARD_VERSION}: "
                    f"{body.get('kind')!r} v{body.get('version')!r}"
                )
            scores = body["scores"]
            card = cls(
                columns=tuple((str(n), str(d)) for n, d in body["schema"]["columns"]),
                rows=int(body["rows"]),
                quasi_identifiers=tuple(str(c) for c in body["quasi_identifiers"]),
                sensitive=tuple(str(c) for c in body["sensitive"]),
                k=int(scores["k"]),
                l=int(scores["l"]),
                t_closeness=float(scores["t_closeness"]),
                risks={
                    name: Risk(**{k: float(v) for k, v in scores["risks"][name].items()})
                    for name in RISK_NAMES
                },
                synthetic=bool(body["synthetic"]),
                tools={str(k): str(v) for k, v in body["tools"].items()},
                extensions=dict(body.get("extensions", {})),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            if isinstance(exc, MalformedCardError):
                raise
            raise MalformedCardError(f"malformed dataset card: {exc}") from exc
        if card.schema_sha256 != body["schema"]["sha256"]:
            raise MalformedCardError("the card's schema hash does not match its columns")
        return card
