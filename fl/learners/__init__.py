"""Learners, one per module, and the registry that names them in the study plan.

`sgd_delta` is the default plan learner (local SGD, ship a delta, combine with the strategy).
The sufficient-statistics learners ship sums the server adds: `closed_form` ("ridge",
"least-squares") over the pure maths of `ridge`, and `federated_kmeans` ("kmeans") over the pure
maths of `kmeans`; the pure modules are imported by name (`from fl.learners import kmeans`). The
multiclass learners (multinomial logistic regression and an MLP with a softmax head) are
`fl.models.ModelSpec`s with `task="multiclass"`, trained by `fl.train` and combined by FedAvg
like the binary and regression SGD learners. `statistics` is no registered learner: it runs the
preprocessing statistics round before the plan's learner (`fl.roles.plan.StudyPlan.make_learner`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from fl.errors import UnknownPluginError
from fl.learner import Learner
from fl.learners.closed_form import LeastSquares, Ridge
from fl.learners.federated_kmeans import FederatedKMeans
from fl.learners.sgd_delta import SgdDelta

__all__ = ["LEARNERS", "FederatedKMeans", "LeastSquares", "Ridge", "SgdDelta", "make_learner"]

LEARNERS: Mapping[str, Callable[[], Learner]] = MappingProxyType(
    {
        SgdDelta.name: SgdDelta,
        Ridge.name: Ridge,
        LeastSquares.name: LeastSquares,
        FederatedKMeans.name: FederatedKMeans,
    }
)
"""Registry name -> learner class. Add new learners here."""


def make_learner(name: str) -> Learner:
    """The learner registered as `name`; raises `UnknownPluginError`."""
    try:
        return LEARNERS[name]()
    except KeyError as exc:
        raise UnknownPluginError("learner", name, tuple(LEARNERS)) from exc
