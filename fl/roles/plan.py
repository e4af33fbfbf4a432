"""The study's training plan: the JSON artifact whose CID is the study's on-chain `metadataCid`.

Every trainer rebuilds the same model from it and trains with the same local configuration.
The strategy (FedAvg or a robust one, `fl.strategies`) and the optional contribution-value method
(`fl.valuation`) are part of it, so the auditor recomputes the round's decisions and values with
the same settings. Both need each hospital's own update, so a plan naming any privacy `mode` but
`sealed` (e.g. secure aggregation, where the aggregator only learns the sum) is refused with them.
Format (canonical JSON, keys sorted)::

    {
      "format": "consentfl.study-plan/1",
      "model": <ModelSpec.to_json_dict()>,
      "training": <LocalTrainingConfig.to_json_dict()>,
      "strategy": {"name": "fedavg", "options": {...}},
      "valuation": {"name": "gtg", "options": {...}, "metric": "loss"} | null,   # optional
      "init_seed": 0,
      "round_timeout_s": 60.0
    }
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
from fl.robust import RobustStrategy
from fl.roles.errors import MetadataError
from fl.strategies import make_strategy
from fl.strategy import Strategy
from fl.train import LocalTrainingConfig
from fl.valuation import Valuation, make_valuation
from fl.valuation.utility import METRICS, UtilityMetric

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
    valuation: str | None = None
    """Contribution values per round (`fl.valuation` name), or None for none."""
    valuation_options: Mapping[str, object] = field(default_factory=dict)
    valuation_metric: UtilityMetric = "loss"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.round_timeout_s) and self.round_timeout_s >= 0):
            raise MetadataError(f"round_timeout_s must be >= 0, got {self.round_timeout_s!r}")
        self.make_strategy()  # validates name and options
        self.make_valuation()
        if self.valuation is not None and self.valuation_metric not in METRICS:
            raise MetadataError(f"valuation metric must be one of {METRICS}")

    def make_valuation(self) -> Valuation | None:
        """The configured contribution-value method, or None."""
        if self.valuation is None:
            return None
        try:
            return make_valuation(self.valuation, **dict(self.valuation_options))
        except FlError as exc:
            raise MetadataError(f"bad valuation in plan: {exc}") from exc

    @property
    def judges_updates(self) -> bool:
        """Whether rounds need each hospital's own update (a robust strategy or valuation)."""
        return self.valuation is not None or isinstance(self.make_strategy(), RobustStrategy)

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
        if self.valuation is not None:
            body["valuation"] = {
                "name": self.valuation,
                "options": dict(self.valuation_options),
                "metric": self.valuation_metric,
            }
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_json_bytes(cls, data: bytes) -> StudyPlan:
        """Parse a plan; raises `MetadataError` on anything malformed."""
        try:
            body = json.loads(data)
            if not isinstance(body, dict) or body.get("format") != PLAN_FORMAT:
                raise MetadataError("the study metadata is not a consentfl study plan")
            strategy = body["strategy"]
            valuation = body.get("valuation") or {}
            mode = body.get("mode", "sealed")
            plan = cls(
                model=ModelSpec.from_json_dict(body["model"]),
                training=LocalTrainingConfig.from_json_dict(body["training"]),
                strategy=str(strategy["name"]),
                strategy_options=dict(strategy.get("options", {})),
                init_seed=int(body["init_seed"]),
                round_timeout_s=float(body["round_timeout_s"]),
                valuation=None if not valuation else str(valuation["name"]),
                valuation_options=dict(valuation.get("options", {})),
                valuation_metric=valuation.get("metric", "loss"),
            )
            if mode != "sealed" and plan.judges_updates:
                raise MetadataError(
                    f"privacy mode {mode!r} hides individual updates: robust strategies and "
                    "contribution values need the sealed mode"
                )
            return plan
        except MetadataError:
            raise
        except (FlError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise MetadataError(f"malformed study plan: {exc}") from exc
