"""Aggregation strategies, one per module, and the registry that names them for configuration.

FedAvg combines every update. The robust strategies (`fl.robust.RobustStrategy`) judge each update
first and say which they kept, with what weight and why: coordinate median, trimmed mean, Krum,
Multi-Krum, Bulyan, FLTrust and norm bounding.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from fl.errors import AggregationError, UnknownStrategyError
from fl.strategies.bulyan import Bulyan
from fl.strategies.fedavg import FedAvg
from fl.strategies.fltrust import FLTrust
from fl.strategies.krum import Krum, MultiKrum
from fl.strategies.median import CoordinateMedian
from fl.strategies.norm_bound import NormBound
from fl.strategies.trimmed_mean import TrimmedMean
from fl.strategy import Strategy

__all__ = [
    "STRATEGIES",
    "Bulyan",
    "CoordinateMedian",
    "FLTrust",
    "FedAvg",
    "Krum",
    "MultiKrum",
    "NormBound",
    "TrimmedMean",
    "make_strategy",
]

STRATEGIES: Mapping[str, Callable[..., Strategy]] = MappingProxyType(
    {
        cls.name: cls
        for cls in (
            FedAvg,
            CoordinateMedian,
            TrimmedMean,
            Krum,
            MultiKrum,
            Bulyan,
            FLTrust,
            NormBound,
        )
    }
)
"""Registry name -> strategy class. Add new strategies here."""


def make_strategy(name: str, **options: object) -> Strategy:
    """The strategy registered as `name`, built with keyword `options` (validated by it)."""
    try:
        factory = STRATEGIES[name]
    except KeyError as exc:
        raise UnknownStrategyError(name, tuple(STRATEGIES)) from exc
    try:
        return factory(**options)
    except TypeError as exc:  # an option the strategy does not take
        raise AggregationError(f"bad options for strategy {name!r}: {exc}") from exc
