"""The study's training plan: the JSON artifact whose CID is the study's on-chain `metadataCid`.

Every trainer rebuilds the same model from it and trains with the same local configuration.
Format (canonical JSON, keys sorted)::

    {
      "format": "consentfl.study-plan/1",
      "model": <ModelSpec.to_json_dict()>,
      "training": <LocalTrainingConfig.to_json_dict()>,
      "strategy": {"name": "fedavg", "options": {...}},
      "init_seed": 0,
      "round_timeout_s": 60.0,
      "schema": <StudySchema.to_json_dict()>,          (optional: studies with a schema)
      "preprocessing_stats": <StudyStats.to_json_dict()> (optional: the federated statistics)
    }

Readers ignore keys they do not know, so a plan with a schema still parses in older code; a plan
without one is a study of `fl.data`'s numeric `label` files, as before.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from torch import Tensor

from fl.errors import FlError
from fl.models import ModelSpec, initial_state
from fl.preprocess import StudyStats
from fl.roles.errors import MetadataError
from fl.schema import StudySchema
from fl.strategies import make_strategy
from fl.strategy import Strategy
from fl.train import LocalTrainingConfig

__all__ = ["PLAN_FORMAT", "StudyPlan"]

PLAN_FORMAT: Final = "consentfl.study-plan/1"


@dataclass(frozen=True, slots=True, kw_only=True)
class StudyPlan:
    """What every party of a study must agree on before round 0."""

    model: ModelSpec
    training: LocalTrainingConfig = field(default_factory=LocalTrainingConfig)
    strategy: str = "fedavg"
    strategy_options: Mapping[str, object] = field(default_factory=dict)
    init_seed: int = 0
    round_timeout_s: float = 60.0
    """How long the aggregator waits for missing hospitals once the minimum is met."""
    schema: StudySchema | None = None
    """What every hospital's file must look like (validated before round 0 and every reload)."""
    stats: StudyStats | None = None
    """The federated preprocessing statistics every hospital encodes its rows with."""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.round_timeout_s) and self.round_timeout_s >= 0):
            raise MetadataError(f"round_timeout_s must be >= 0, got {self.round_timeout_s!r}")
        self.make_strategy()  # validates name and options
        if self.schema is not None:
            self._check_schema(self.schema)
        elif self.stats is not None:
            raise MetadataError("preprocessing statistics need a schema")

    def _check_schema(self, schema: StudySchema) -> None:
        kind = schema.task.kind
        expected = {
            "binary": "classification",
            "multiclass": "multiclass",
            "regression": "regression",
        }.get(kind)
        if expected is None:
            raise MetadataError(f"a {kind} study has no SGD model (see fl.learners)")
        if self.model.task != expected:
            raise MetadataError(f"the schema's task is {kind}, the model's {self.model.task}")
        if kind == "multiclass" and self.model.n_outputs != schema.task.n_classes:
            raise MetadataError(
                f"the schema has {schema.task.n_classes} classes, the model "
                f"{self.model.n_outputs} outputs"
            )
        if self.model.n_features != len(schema.feature_names()):
            raise MetadataError(
                f"the schema encodes {len(schema.feature_names())} features, "
                f"the model takes {self.model.n_features}"
            )
        try:
            if self.stats is not None:
                self.stats.check_fits(schema)
        except FlError as exc:
            raise MetadataError(f"preprocessing statistics do not fit the schema: {exc}") from exc

    def make_strategy(self) -> Strategy:
        """The configured aggregation strategy."""
        try:
            return make_strategy(self.strategy, **dict(self.strategy_options))
        except FlError as exc:
            raise MetadataError(f"bad strategy in plan: {exc}") from exc

    def initial_state(self) -> dict[str, Tensor]:
        """Round 0's base model."""
        return initial_state(self.model, seed=self.init_seed)

    def to_json_bytes(self) -> bytes:
        """Canonical JSON (equal plans give equal bytes, hence equal CIDs)."""
        body: dict[str, Any] = {
            "format": PLAN_FORMAT,
            "model": self.model.to_json_dict(),
            "training": self.training.to_json_dict(),
            "strategy": {"name": self.strategy, "options": dict(self.strategy_options)},
            "init_seed": self.init_seed,
            "round_timeout_s": self.round_timeout_s,
        }
        if self.schema is not None:
            body["schema"] = self.schema.to_json_dict()
        if self.stats is not None:
            body["preprocessing_stats"] = self.stats.to_json_dict()
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_json_bytes(cls, data: bytes) -> StudyPlan:
        """Parse a plan; raises `MetadataError` on anything malformed."""
        try:
            body = json.loads(data)
            if not isinstance(body, dict) or body.get("format") != PLAN_FORMAT:
                raise MetadataError("the study metadata is not a consentfl study plan")
            strategy = body["strategy"]
            return cls(
                model=ModelSpec.from_json_dict(body["model"]),
                training=LocalTrainingConfig.from_json_dict(body["training"]),
                strategy=str(strategy["name"]),
                strategy_options=dict(strategy.get("options", {})),
                init_seed=int(body["init_seed"]),
                round_timeout_s=float(body["round_timeout_s"]),
                schema=StudySchema.from_json_dict(body["schema"]) if "schema" in body else None,
                stats=(
                    StudyStats.from_json_dict(body["preprocessing_stats"])
                    if "preprocessing_stats" in body
                    else None
                ),
            )
        except MetadataError:
            raise
        except (FlError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise MetadataError(f"malformed study plan: {exc}") from exc
