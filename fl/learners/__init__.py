"""Learners, one per module, and the registry that names them in the study plan.

`sgd_delta` is the plan's learner today (what a hospital ships and how the server combines it).
Beside it, as pure maths over what hospitals send: closed-form linear/ridge regression from
summed sufficient statistics (`ridge`) and federated k-means (`kmeans`); they are not registered
as plan learners yet, and are imported by name (`from fl.learners import kmeans`), not by
loading the registry. The multiclass learners (multinomial logistic regression and an MLP with a
softmax head) are `fl.models.ModelSpec`s with `task="multiclass"`, trained by `fl.train` and
combined by FedAvg like the binary and regression SGD learners.
"""

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
