"""Reproducible local training: the same inputs give the same update bytes, across processes and
whatever thread count the process had (the conditions in `fl.determinism`)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from consent.ids import Address, StudyId, study_id
from fl.data import HospitalDataset
from fl.determinism import deterministic_torch, training_seed
from fl.models import ModelSpec
from fl.roles.plan import StudyPlan
from fl.roles.replay import local_payload
from fl.train import LocalTrainingConfig

HOSPITAL = Address("0x" + "ab" * 20)
STUDY = study_id("determinism")
PLAN = StudyPlan(
    model=ModelSpec.mlp(6, "classification", (16, 8)),
    training=LocalTrainingConfig(epochs=2, batch_size=8, lr=0.05, optimizer="adam"),
)

_SCRIPT = """
import sys, torch
torch.set_num_threads(int(sys.argv[1]))
from tests.unit.fl.test_determinism import payload_digest
print(payload_digest())
"""


def rows() -> HospitalDataset:
    generator = torch.Generator().manual_seed(7)
    features = torch.randn(60, 6, generator=generator)
    return HospitalDataset(
        patients=tuple(Address("0x" + f"{i % 20:040x}") for i in range(60)),
        features=features,
        labels=(features[:, 0] + features[:, 1] > 0).float(),
        task="classification",
        feature_names=tuple(f"f{i}" for i in range(6)),
    )


def payload_digest(round_: int = 3, study: StudyId = STUDY) -> str:
    """SHA-256 of the update a hospital ships for these fixed inputs."""
    local = local_payload(
        PLAN, PLAN.initial_state(), rows(), study=study, round_=round_, hospital=HOSPITAL
    )
    return hashlib.sha256(local.payload).hexdigest()


def test_two_processes_with_different_thread_counts_produce_the_same_update_bytes() -> None:
    root = Path(__file__).resolve().parents[3]
    env = {**os.environ, "PYTHONPATH": str(root)}
    digests = [
        subprocess.run(
            [sys.executable, "-c", _SCRIPT, threads],
            capture_output=True, text=True, check=True, cwd=root, env=env, timeout=120,
        ).stdout.strip()
        for threads in ("1", "2")
    ]  # fmt: skip
    assert digests[0] == digests[1] == payload_digest()
    assert len(digests[0]) == 64


def test_the_seed_depends_on_study_round_and_hospital() -> None:
    seeds = {
        training_seed(0, STUDY, 3, HOSPITAL),
        training_seed(0, study_id("other"), 3, HOSPITAL),
        training_seed(0, STUDY, 4, HOSPITAL),
        training_seed(0, STUDY, 3, "0x" + "cd" * 20),
        training_seed(1, STUDY, 3, HOSPITAL),
    }
    assert len(seeds) == 5
    assert training_seed(0, STUDY, 3, HOSPITAL) == training_seed(0, STUDY, 3, "0x" + "AB" * 20)
    assert payload_digest(round_=3) != payload_digest(round_=4)


def test_deterministic_section_restores_the_process_settings() -> None:
    before = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    with deterministic_torch():
        assert torch.get_num_threads() == 1
        assert torch.are_deterministic_algorithms_enabled()
    assert (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()) == before


def test_negative_seed_or_round_is_refused() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        training_seed(-1, STUDY, 0, HOSPITAL)
    with pytest.raises(ValueError, match=">= 0"):
        training_seed(0, STUDY, -1, HOSPITAL)
