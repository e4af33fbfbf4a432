"""Helpers shared by the embedded secure-aggregation tests (`test_embedded_secagg`,
`test_embedded_dp_secagg`): a local step that remembers each hospital's delta, the check that a
round's model is its base plus the FedAvg of those deltas, and the audit with its failures and
secagg details."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from torch import Tensor

from api.embedded import EmbeddedStudy
from api.wiring import default_audit_checks
from chain.audit import AuditReport, AuditVerifier
from chain.exclusions import ExclusionProofs
from consent.secagg import RingParams
from consent.secagg.model import flatten, load_tensors
from fl.data import HospitalDataset
from fl.models import ModelSpec
from fl.roles.trainer import TrainFn
from fl.train import LocalResult, LocalTrainingConfig

__all__ = ["DeltaRecorder", "assert_base_plus_fedavg", "audit", "failed", "secagg_details"]


class DeltaRecorder:
    """`step` (a real local step), remembering each hospital's patient count and delta (in call
    order)."""

    def __init__(self, step: TrainFn) -> None:
        self._step = step
        self.deltas: list[tuple[int, Mapping[str, Tensor]]] = []

    def __call__(
        self,
        spec: ModelSpec,
        base: Mapping[str, Tensor],
        data: HospitalDataset,
        config: LocalTrainingConfig,
    ) -> LocalResult:
        result = self._step(spec, base, data, config)
        self.deltas.append((len(data.distinct_patients()), result.delta))
        return result


def assert_base_plus_fedavg(
    study: EmbeddedStudy, base_cid: str, model_cid: str, recorder: DeltaRecorder
) -> None:
    """The model at `model_cid` is the base at `base_cid` plus the patient-weighted mean of the
    recorded deltas, within the ring's quantization error (the aggregator saw only the sum)."""
    base = load_tensors(study.store.get(base_cid))
    model = load_tensors(study.store.get(model_cid))
    weights = np.array([n for n, _ in recorder.deltas], dtype=np.float64)
    deltas = [flatten({k: v.numpy() for k, v in d.items()}) for _, d in recorder.deltas]
    expected = sum(w * d.astype(np.float64) for w, d in zip(weights, deltas, strict=True))
    step = flatten(model).astype(np.float64) - flatten(base).astype(np.float64)
    assert np.max(np.abs(step - expected / weights.sum())) <= RingParams().max_error + 1e-6


def audit(study: EmbeddedStudy, tmp: Path) -> AuditReport:
    """The study's audit with the default checks, over the exclusion proofs it writes."""
    proofs = tmp / "proofs"
    study.write_exclusion_proofs(proofs)
    verifier = AuditVerifier(
        study.coordinator, study.store, ExclusionProofs.load(proofs), checks=default_audit_checks()
    )
    return verifier.verify(study.study)


def failed(report: AuditReport) -> list[str]:
    """The failed checks, `check: detail`."""
    return [f"{c.check}: {c.detail}" for c in report.checks if not c.passed]


def secagg_details(report: AuditReport) -> list[str]:
    """The `secagg` checks' details, one a round."""
    return [c.detail for c in report.checks if c.check == "secagg"]
