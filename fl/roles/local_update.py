"""The part of a trainer's local update that depends on the study's privacy mode.

`local_update` runs the plan's local step (`fl.roles.replay.local_payload`, reproducible) and
returns the bytes the trainer stores and hashes on chain:

- modes "sealed" and "dp": the payload encoded with the plan's codec (sealed to the aggregator
  and the plan's auditors);
- modes "secagg" and "dp+secagg": the delta masked for the round's roster, weighted by the
  number of patients used (`fl.roles.secagg_hospital.SecAggHospital.masked_update`);
- in the dp modes the local step is the DP-SGD learner, its noise drawn from the hospital's
  round noise seed (`fl.roles.noise_secret`, `fl.determinism.noise_seed`), so `audit replay`
  given that seed reproduces the update and names a hospital that trained with less noise.

`hospital_secagg` builds the secure-aggregation side of a hospital in the modes that have one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from torch import Tensor

from consent.ids import Address, StudyId
from fl.attacks import Attack, malicious_train_fn
from fl.data import HospitalDataset
from fl.ports import ArtifactStorePort, LedgerPort, SecAggPort, StudyRecord
from fl.roles.noise_secret import round_noise_seed
from fl.roles.plan import StudyPlan
from fl.roles.replay import LocalPayload, LocalStep, local_payload
from fl.roles.secagg_hospital import SecAggHospital, secagg_port

__all__ = ["LocalUpdate", "hospital_secagg", "local_update"]


@dataclass(frozen=True, slots=True)
class LocalUpdate:
    """The local step's payload and result, and the bytes to store (sealed or masked)."""

    local: LocalPayload
    encoded: bytes


def hospital_secagg(
    plan: StudyPlan,
    *,
    study: StudyId,
    ledger: LedgerPort,
    store: ArtifactStorePort,
    port: SecAggPort | None,
    state_dir: Path,
) -> SecAggHospital | None:
    """This hospital's secure-aggregation side in modes "secagg" and "dp+secagg", else None."""
    if not plan.privacy.mode.secagg:
        return None
    return SecAggHospital(
        study=study, ledger=ledger, store=store, plan=plan,
        port=secagg_port(ledger, port), state_dir=state_dir,
    )  # fmt: skip


def local_update(
    plan: StudyPlan,
    base: Mapping[str, Tensor],
    rows: HospitalDataset,
    *,
    study: StudyRecord,
    round_: int,
    hospital: Address,
    patients: int,
    state_dir: Path,
    secagg: SecAggHospital | None,
    train: LocalStep | None = None,
    attack: Attack | None = None,
) -> LocalUpdate:
    """See the module docstring; `study` is the study's record (its aggregator's seal key),
    `patients` the on-chain weight of a masked update, `train` a test's stand-in for the local
    step, `attack` a simulated malicious hospital (`fl.attacks`)."""
    seed = None
    if plan.dp is not None and plan.dp.level == "record":
        seed = round_noise_seed(state_dir, study.study, round_, hospital)
    step = train
    if attack is not None:
        step = malicious_train_fn(attack, train or plan.make_learner(noise_seed=seed).local_step)
    local = local_payload(  # reproducible: an auditor can replay it
        plan, base, rows, study=study.study, round_=round_, hospital=hospital, train=step,
        noise_seed=seed,
    )  # fmt: skip
    if secagg is None:
        return LocalUpdate(local, plan.make_codec().encode(local.payload, study))
    return LocalUpdate(local, secagg.masked_update(round_, local.result.delta, patients))
