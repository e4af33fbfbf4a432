"""Contribution values per hospital per round, on the aggregator's validation set.

Methods (one per module, named in the study plan): `exact` Shapley (N <= 8, the reference),
`gtg` (GTG-Shapley, the default), `tmc` (TMC-Shapley) and `loo` (leave-one-out). All play the game
of `fl.valuation.utility`: sub-models rebuilt from the round's updates, no retraining.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType

from torch import Tensor

from fl.errors import AggregationError
from fl.strategy import ClientUpdate
from fl.valuation.contributions import Contributions, Valuation
from fl.valuation.exact import MAX_EXACT_PLAYERS, ExactShapley
from fl.valuation.gtg import GTGShapley
from fl.valuation.loo import LeaveOneOut
from fl.valuation.tmc import TMCShapley
from fl.valuation.utility import CoalitionGame, Utility, validation_utility

__all__ = [
    "MAX_EXACT_PLAYERS",
    "VALUATIONS",
    "CoalitionGame",
    "Contributions",
    "ExactShapley",
    "GTGShapley",
    "LeaveOneOut",
    "TMCShapley",
    "Utility",
    "Valuation",
    "make_valuation",
    "validation_utility",
    "value_round",
]

VALUATIONS: Mapping[str, Callable[..., Valuation]] = MappingProxyType(
    {cls.name: cls for cls in (ExactShapley, GTGShapley, TMCShapley, LeaveOneOut)}
)


def make_valuation(name: str, **options: object) -> Valuation:
    """The valuation method registered as `name`, built with keyword `options` (validated)."""
    try:
        factory = VALUATIONS[name]
    except KeyError as exc:
        raise AggregationError(
            f"unknown valuation method {name!r}; known: {', '.join(VALUATIONS)}"
        ) from exc
    try:
        return factory(**options)
    except TypeError as exc:
        raise AggregationError(f"bad options for valuation {name!r}: {exc}") from exc


def value_round(
    valuation: Valuation,
    base_state: Mapping[str, Tensor],
    updates: Sequence[ClientUpdate],
    utility: Utility,
) -> Contributions:
    """Each update's contribution to this round under `valuation`."""
    return valuation.run(CoalitionGame(base_state, updates, utility))
