"""Learners, one per module, and the registry that names them in the study plan."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from fl.errors import UnknownPluginError
from fl.learner import Learner
from fl.learners.sgd_delta import SgdDelta

__all__ = ["LEARNERS", "SgdDelta", "make_learner"]

LEARNERS: Mapping[str, Callable[[], Learner]] = MappingProxyType({SgdDelta.name: SgdDelta})
"""Registry name -> learner class. Add new learners here."""


def make_learner(name: str) -> Learner:
    """The learner registered as `name`; raises `UnknownPluginError`."""
    try:
        return LEARNERS[name]()
    except KeyError as exc:
        raise UnknownPluginError("learner", name, tuple(LEARNERS)) from exc
