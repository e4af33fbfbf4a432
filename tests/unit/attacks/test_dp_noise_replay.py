"""Less DP noise than declared is caught by replay (issue 14, Deliver 4).

A dp study's DP-SGD noise is drawn from a seed derived from the hospital's noise secret and
(study, round, hospital) (`fl.determinism.noise_seed`). The hospital discloses a round's seed to
the auditor with the round's rows; `audit replay` retrains with the plan's declared noise
multiplier and that seed and must reproduce the committed update bit for bit. A hospital that
trained with a smaller noise multiplier than declared (and charged the declared budget) is named.

Real study in process: eth-tester, the local store, real trainer and aggregator roles, Opacus.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from torch import Tensor

from api.embedded import EmbeddedStudy
from consent.formats.privacy import PrivacyMode, PrivacySpec
from consent.privacy import DpTerms
from consent.sealing import generate_keypair
from fl.data import HospitalDataset
from fl.learners import SgdDelta
from fl.models import ModelSpec
from fl.privacy import RecordDpLearner, calibrate_noise
from fl.roles.noise_secret import round_noise_seed
from fl.roles.plan import StudyPlan
from fl.roles.replay import replay_round
from fl.train import LocalResult, LocalTrainingConfig
from tests.unit.api.test_embedded_consent import records

AUDITOR = generate_keypair()
TERMS = calibrate_noise(  # the smallest noise under which 1 round(s) fit the budget
    DpTerms(
        epsilon=8.0, delta=1e-5, noise_multiplier=1.0, max_grad_norm=1.0, sample_rate=0.5,
        steps_per_round=2,
    ),
    1,
)  # fmt: skip
PLAN = StudyPlan(
    model=ModelSpec.linear(3, "classification"),
    training=LocalTrainingConfig(epochs=1, batch_size=16, lr=0.5),
    auditor_seal_keys=(bytes(AUDITOR.public_key),),
    privacy=PrivacySpec(mode=PrivacyMode.DP, dp=TERMS),
)


def _replay(
    study: EmbeddedStudy, k: int, round_: int, noise_seed: int | None
) -> dict[str, tuple[bool, str]]:
    usage = study.trainers[k].usages[round_]
    dataset = study.trainers[k].dataset
    findings = replay_round(
        plan=study.plan,
        study=study.study,
        record=study.coordinator.rounds.get_round_record(study.study, round_),
        hospital=study.hospital(k),
        rows=dataset.select(dataset.patient_mask(set(usage.patients))),
        store=study.store,
        auditor_key=AUDITOR.private_key,
        noise_seed=noise_seed,
    )
    return {f.step: (f.passed, f.detail) for f in findings}


def _seed(study: EmbeddedStudy, k: int, round_: int) -> int:
    state = study.workdir / f"hospital-{k + 1}" / "state"
    return round_noise_seed(state, study.study, round_, study.hospital(k), create=False)


def test_a_trainer_with_less_noise_than_declared_is_named_by_the_replay(tmp_path: Path) -> None:
    study = EmbeddedStudy.create(tmp_path, hospitals=2, plan=PLAN, rounds=1)
    for k in range(2):
        study.enroll(k, records(k, 8))
    liar = study.trainers[0]

    def quieter(
        spec: ModelSpec, base: Mapping[str, Tensor], rows: HospitalDataset,
        config: LocalTrainingConfig,
    ) -> LocalResult:  # fmt: skip
        weak = replace(TERMS, noise_multiplier=TERMS.noise_multiplier / 4)  # declares 1.0
        own_seed = _seed(study, 0, 0)  # even with its own round seed, with less noise
        learner = RecordDpLearner(SgdDelta(), weak, noise_seed=own_seed)
        return learner.local_step(spec, base, rows, config)

    liar._train_fn = quieter  # type: ignore[assignment]
    study.run_round()

    honest = _replay(study, 1, 0, _seed(study, 1, 0))
    assert honest["data-root"][0]
    assert honest["update"] == (True, honest["update"][1])
    assert "bit-identical" in honest["update"][1]

    lied = _replay(study, 0, 0, _seed(study, 0, 0))
    assert lied["data-root"][0]  # the right rows: only the noise differs
    assert not lied["update"][0]
    assert "update hash mismatch" in lied["update"][1]


def test_a_dp_round_does_not_replay_without_the_disclosed_noise_seed(tmp_path: Path) -> None:
    study = EmbeddedStudy.create(tmp_path, hospitals=1, plan=PLAN, rounds=1)
    study.enroll(0, records(0, 8))
    study.run_round()
    without = _replay(study, 0, 0, None)
    assert not without["update"][0]
    assert "noise seed" in without["update"][1]
    wrong = _replay(study, 0, 0, _seed(study, 0, 0) ^ 1)
    assert not wrong["update"][0]
    assert _replay(study, 0, 0, _seed(study, 0, 0))["update"][0]
