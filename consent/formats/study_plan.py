"""The study plan: the JSON artifact whose CID is the study's on-chain `metadataCid`.

Written by the coordinator's tools and read by every trainer and the aggregator (`fl.roles.plan`
turns the sections into the model, training configuration, strategy, codec and learner). Canonical
JSON, version 2::

    {
      "format": "consentfl.study-plan/2",
      "model": {...},                       # fl.models.ModelSpec.to_json_dict()
      "training": {...},                    # fl.train.LocalTrainingConfig.to_json_dict()
      "strategy": {"name": "fedavg", "options": {...}},
      "codec": "sealed",                    # how updates are encoded (fl.codecs)
      "learner": "sgd-delta",               # what a hospital ships and how it is combined
      "init_seed": 0,
      "round_timeout_s": 60.0,
      "schema": {...},                      # optional: fl.schema.StudySchema.to_json_dict()
      "preprocessing_stats": {...},         # optional: fl.preprocess.StudyStats.to_json_dict()
      "extensions": {}
    }

Version 1 has no `codec`, `learner` or `extensions`: it reads as codec "sealed" and learner
"sgd-delta", which is what every version-1 study used. `schema` and `preprocessing_stats` are
absent from plans of studies without a schema (numeric `label` files, `fl.data`); version-1
plans may carry them too and are read with them. A plan with a schema that standardizes or
imputes and no `preprocessing_stats` has a statistics round: round 0 computes them and its model
carries them (`fl.learners.statistics`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from consent.formats._document import Family, FormatError, canonical_json, extensions_of

__all__ = ["DEFAULT_CODEC", "DEFAULT_LEARNER", "PLAN", "PLAN_FORMAT", "PlanDocument"]

PLAN: Final = Family("consentfl.study-plan", (1, 2))
PLAN_FORMAT: Final = PLAN.latest
DEFAULT_CODEC: Final = "sealed"
DEFAULT_LEARNER: Final = "sgd-delta"


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanDocument:
    """A study plan's sections, as JSON values (their meaning is `fl/`'s business)."""

    model: Mapping[str, Any]
    training: Mapping[str, Any]
    strategy: str
    strategy_options: Mapping[str, Any] = field(default_factory=dict)
    codec: str = DEFAULT_CODEC
    learner: str = DEFAULT_LEARNER
    init_seed: int = 0
    round_timeout_s: float = 60.0
    schema: Mapping[str, Any] | None = None
    preprocessing_stats: Mapping[str, Any] | None = None
    extensions: Mapping[str, Any] = field(default_factory=dict)

    def to_json_bytes(self) -> bytes:
        """Canonical JSON of the latest version (equal plans give equal bytes and CIDs)."""
        body: dict[str, Any] = {
            "format": PLAN_FORMAT,
            "model": dict(self.model),
            "training": dict(self.training),
            "strategy": {"name": self.strategy, "options": dict(self.strategy_options)},
            "codec": self.codec,
            "learner": self.learner,
            "init_seed": self.init_seed,
            "round_timeout_s": self.round_timeout_s,
            "extensions": dict(self.extensions),
        }
        if self.schema is not None:
            body["schema"] = dict(self.schema)
        if self.preprocessing_stats is not None:
            body["preprocessing_stats"] = dict(self.preprocessing_stats)
        return canonical_json(body)

    @classmethod
    def from_json_bytes(cls, data: bytes) -> PlanDocument:
        """Parse any known version; raises `UnknownFormatError` / `FormatError`."""
        try:
            body = json.loads(data)
        except ValueError as exc:
            raise FormatError(f"the study plan is not JSON: {exc}") from exc
        version = PLAN.parse(body)
        try:
            strategy = body["strategy"]
            return cls(
                model=dict(body["model"]),
                training=dict(body["training"]),
                strategy=str(strategy["name"]),
                strategy_options=dict(strategy.get("options", {})),
                codec=str(body["codec"]) if version >= 2 else DEFAULT_CODEC,
                learner=str(body["learner"]) if version >= 2 else DEFAULT_LEARNER,
                init_seed=int(body["init_seed"]),
                round_timeout_s=float(body["round_timeout_s"]),
                schema=_optional(body, "schema"),
                preprocessing_stats=_optional(body, "preprocessing_stats"),
                extensions=extensions_of(body),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise FormatError(f"malformed {PLAN.tag(version)} document: {exc!r}") from exc


def _optional(body: Mapping[str, Any], key: str) -> dict[str, Any] | None:
    return None if body.get(key) is None else dict(body[key])
