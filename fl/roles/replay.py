"""A hospital's local step, reproducibly, and the auditor's replay of it from disclosed rows.

`local_payload` is the one place a trainer's update is computed and serialized: the plan's
learner's local step from the round's base on the given rows, under `fl.determinism` (seed from
study, round and hospital; deterministic algorithms; one thread), serialized with its update
envelope. The trainer (`fl.roles.trainer`) seals what it returns; `replay_round` recomputes it
from the rows a hospital discloses to an auditor for a round and compares it with what the
hospital committed on chain:

1. the data root: the sparse Merkle root over the distinct patients of the disclosed rows must be
   the round's on-chain `dataRoot` (else the hospital disclosed other patients than it committed);
2. the update: the update bytes are fetched by CID and checked against the on-chain update hash,
   opened with the auditor's key (the study plan's auditor keys; the envelope commits to one
   content key, so this is the payload the aggregator combined), and compared byte for byte
   with the replayed payload. The chain commits to the sealed bytes, whose encryption is
   randomized; the payload inside them is what replay reproduces bit-for-bit.

A hospital that trained on a revoked patient and discloses its rows without that patient passes
(1) only if it committed a root without the patient, and then fails (2): its real update was
computed on rows it does not disclose.

In the dp modes the local step adds DP-SGD noise drawn from the hospital's per-round noise seed
(`fl.determinism.noise_seed`), which the hospital discloses to the auditor with the rows: the
replay trains with the plan's declared noise multiplier and that seed, so a hospital that
trained with less noise than declared (or with other noise) fails (2) like one that trained on
other rows. No seed can make a less-noisy update replay: finding one would mean inverting the
noise generator.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from torch import Tensor

from consent.errors import ConsentError
from consent.formats.update_envelope import UpdateEnvelope
from consent.ids import Address, StudyId
from consent.smt import DataTree
from fl.data import HospitalDataset
from fl.determinism import deterministic_torch, training_seed
from fl.errors import FlError
from fl.models import ModelSpec
from fl.ports import RoundRecord
from fl.roles.artifacts import ArtifactSource, fetch_verified
from fl.roles.errors import BaseModelMismatchError
from fl.roles.plan import StudyPlan
from fl.roles.recompute import state_difference
from fl.serialize import bytes_to_state_dict, read_metadata, state_dict_to_bytes
from fl.train import LocalResult, LocalTrainingConfig

LocalStep = Callable[
    [ModelSpec, Mapping[str, Tensor], HospitalDataset, LocalTrainingConfig], LocalResult
]
"""A learner's local step (`fl.learner.Learner.local_step`)."""

__all__ = [
    "LocalPayload",
    "LocalStep",
    "ReplayError",
    "ReplayFinding",
    "local_payload",
    "replay_round",
]


@dataclass(frozen=True, slots=True)
class LocalPayload:
    """A hospital's serialized update (before its codec) and what produced it."""

    payload: bytes
    result: LocalResult


def local_payload(
    plan: StudyPlan,
    base: Mapping[str, Tensor],
    rows: HospitalDataset,
    *,
    study: StudyId,
    round_: int,
    hospital: Address,
    train: LocalStep | None = None,
    noise_seed: int | None = None,
) -> LocalPayload:
    """The plan's local step (or `train`, a test's stand-in) on `rows` from `base`,
    reproducibly, with its update envelope; `noise_seed` seeds the dp modes' DP-SGD noise."""
    seed = training_seed(plan.training.seed, study, round_, hospital)
    step = train or plan.make_learner(noise_seed=noise_seed).local_step
    with deterministic_torch():
        result = step(plan.model, base, rows, replace(plan.training, seed=seed))
    envelope = UpdateEnvelope(round=round_, hospital=hospital, codec=plan.codec)
    return LocalPayload(state_dict_to_bytes(result.delta, metadata=envelope.to_metadata()), result)


@dataclass(frozen=True, slots=True)
class ReplayFinding:
    """One replay step: which (`data-root`, `update`), whether it held and what was compared."""

    step: str
    passed: bool
    detail: str


def replay_round(
    *,
    plan: StudyPlan,
    study: StudyId,
    record: RoundRecord,
    hospital: Address,
    rows: HospitalDataset,
    store: ArtifactSource,
    auditor_key: X25519PrivateKey,
    noise_seed: int | None = None,
) -> list[ReplayFinding]:
    """Replay `hospital`'s update in `record` from the disclosed `rows` (see the module doc);
    in a record-level dp study, with the round's disclosed `noise_seed`.

    Raises `ReplayError` when there is nothing to replay (no such update); `ConnectionError`
    when the store is down. Mismatches are findings, named.
    """
    update = record.update_of(hospital)
    if update is None:
        raise ReplayError(f"hospital {hospital} has no update in round {record.round}")
    root = DataTree.build(rows.patients).root
    findings = [
        ReplayFinding(
            "data-root",
            bytes(root) == bytes(update.data_root),
            f"disclosed rows of {len(rows.distinct_patients())} patient(s) give root "
            f"0x{bytes(root).hex()}, on chain 0x{bytes(update.data_root).hex()}",
        )
    ]
    try:
        base_bytes = fetch_verified(store, record.base_model_cid, record.base_model_hash)
        base = bytes_to_state_dict(base_bytes, expected=plan.initial_state())
        committed = plan.make_codec().decode(
            fetch_verified(store, update.update_cid, update.update_hash), auditor_key
        )
    except (BaseModelMismatchError, ConsentError, FlError, KeyError, ValueError) as exc:
        return [
            *findings,
            ReplayFinding("update", False, f"cannot open the committed update: {exc}"),
        ]
    if noise_seed is None and plan.dp is not None and plan.dp.level == "record":
        detail = "a dp round replays only with the hospital's disclosed noise seed for the round"
        return [*findings, ReplayFinding("update", False, detail)]
    replayed = local_payload(
        plan, base, rows, study=study, round_=record.round, hospital=hospital,
        noise_seed=noise_seed,
    )  # fmt: skip
    same = replayed.payload == committed
    detail = (
        f"replayed update ({len(committed)} bytes) is bit-identical to the committed one"
        if same
        else _difference(replayed.payload, committed)
    )
    findings.append(ReplayFinding("update", same, detail))
    return findings


class ReplayError(FlError, ValueError):
    """A replay that cannot start: the hospital has no update in the round."""


def _difference(replayed: bytes, committed: bytes) -> str:
    """Where two serialized updates differ: the envelope, or which tensors and by how much."""
    try:
        theirs = UpdateEnvelope.from_metadata(read_metadata(committed))
        ours = UpdateEnvelope.from_metadata(read_metadata(replayed))
    except (ConsentError, FlError, KeyError, ValueError) as exc:
        return f"the committed update is not a readable update: {exc}"
    if theirs != ours:
        return f"envelopes differ: committed {theirs}, replayed {ours}"
    return (
        "update hash mismatch: the committed update is not what the disclosed rows give ("
        + state_difference(committed, replayed)
        + ")"
    )
