"""The trainer and aggregator roles: the round protocol over the ledger and artifact-store ports.

Roles never call each other: they watch the ledger and exchange artifacts by CID, so the same code
runs in one process (embedded mode) or as separate processes (networked mode).
"""

from fl.roles.aggregator import Aggregator, AggregatorOutcome
from fl.roles.collect import RejectedHospital
from fl.roles.errors import (
    BaseModelMismatchError,
    ConsentRetryExhaustedError,
    MetadataError,
    RoleError,
    RoundKeptChangingError,
)
from fl.roles.plan import StudyPlan
from fl.roles.proofs import PROOF_FORMAT, ExclusionProof
from fl.roles.records import DropReason, RoundUsage
from fl.roles.trainer import Trainer, TrainerOutcome

__all__ = [
    "PROOF_FORMAT",
    "Aggregator",
    "AggregatorOutcome",
    "BaseModelMismatchError",
    "ConsentRetryExhaustedError",
    "DropReason",
    "ExclusionProof",
    "MetadataError",
    "RejectedHospital",
    "RoleError",
    "RoundKeptChangingError",
    "RoundUsage",
    "StudyPlan",
    "Trainer",
    "TrainerOutcome",
]
