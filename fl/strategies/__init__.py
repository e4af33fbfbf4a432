"""Aggregation strategies, one per module, and the registry that names them for configuration."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from fl.errors import AggregationError, UnknownStrategyError
from fl.strategies.fedavg import FedAvg
from fl.strategy import Strategy

__all__ = ["STRATEGIES", "FedAvg", "make_strategy"]

STRATEGIES: Mapping[str, Callable[..., Strategy]] = MappingProxyType({FedAvg.name: FedAvg})
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
