"""Consent scopes end to end over anvil and the js-ipfs node: an HMB study leaves out a patient
whose consent covers DS-CANCER only.

The coordinator creates the study with `--purpose HMB` (declared on chain before any hospital is
admitted). Both hospitals enrol their patients for `HMB,DS-CANCER`; before round 0 one patient of
hospital 1 withdraws HMB through the CLI (signed by the patient, relayed), which leaves a
disease-only consent. The aggregator and both trainers run in this process, wired as the
`consentfl` commands wire them and stepped in turn (three role processes importing torch did not
fit the 300 s test limit on 2 shared cores; test_multiprocess_study runs separate processes).
Hospital 1 trains without that patient (its on-chain patient count is one lower), publishes a
non-membership proof for them that verifies against its on-chain data root, and
`consentfl audit verify` passes with that exclusion checked.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_account import Account
from typer.testing import CliRunner

from api.cli import app
from api.wiring import consent_view, load_seal_key, wire_role
from chain.consent_view import ChainConsentView
from chain.round_ledger import RoundState
from consent.ids import Bytes32, parse_address, parse_bytes32
from consent.keys import load_keyring
from consent.purposes import StudyPurpose
from consent.smt import SmtProof, verify_non_membership
from fl.roles import Aggregator, StudyPlan, Trainer
from fl.roles.study_data import load_hospital_data
from fl.split import split_dataset, write_split
from tests.integration.test_multiprocess_study import PASSWORD, STUDY, Study, _cli

pytestmark = pytest.mark.integration


def _trainer(s: Study, tmp: Path, key: Path, data: Path) -> tuple[Trainer, ChainConsentView]:
    wiring = wire_role(s.anvil, s.deployment, key, s.ipfs)
    view = consent_view(wiring, tmp / f"state-{wiring.port.sender}")
    plan = StudyPlan.from_json_bytes(wiring.store.get(wiring.port.study(s.study).metadata_cid))
    state = tmp / f"roles-{wiring.port.sender}"
    trainer = Trainer(study=s.study, ledger=wiring.port, store=wiring.store, consent=view,
                      dataset=load_hospital_data(data, plan), state_dir=state,
                      plan=plan)  # fmt: skip
    return trainer, view


def _aggregator(s: Study, tmp: Path, key: Path) -> Aggregator:
    wiring = wire_role(s.anvil, s.deployment, key, s.ipfs)
    plan = StudyPlan.from_json_bytes(wiring.store.get(wiring.port.study(s.study).metadata_cid))
    return Aggregator(study=s.study, ledger=wiring.port, store=wiring.store,
                      seal_key=load_seal_key(tmp / "seal.key"), rounds=1, test_set=None,
                      plan=plan, contributions=wiring.port)  # fmt: skip


def test_a_disease_only_consent_is_left_out_of_an_hmb_study(
    tmp_path: Path, anvil: str, ipfs_node: str
) -> None:
    s = Study(tmp_path, anvil, ipfs_node)
    write_split(split_dataset("breast-cancer", 2, non_iid=False, seed=1), tmp_path / "split")
    keys = {name: s.funded_key(name) for name in ("aggregator", "h1", "h2", "relayer")}
    address = {n: parse_address(Account.from_key(k.read_text().strip()).address)
               for n, k in keys.items()}  # fmt: skip
    init = _cli("aggregator", "init", "--seal-key-out", str(tmp_path / "seal.key"),
                "--data", str(tmp_path / "split" / "test.csv"), "--ipfs", ipfs_node,
                "--epochs", "1", "--round-timeout", "0")  # fmt: skip
    s.coordinator.studies.create_study(
        s.study,
        aggregator=address["aggregator"],
        aggregator_seal_key=Bytes32(parse_bytes32(str(init["seal_public_key"]))),
        min_updates=2,
        metadata_cid=str(init["metadata_cid"]),
    )
    s.coordinator.studies.declare_purpose(s.study, StudyPurpose.parse("HMB"))
    for name in ("h1", "h2"):
        s.coordinator.studies.add_hospital(s.study, address[name])
    for k, name in enumerate(("h1", "h2"), start=1):
        _cli("patients", "enroll", "--deployment", str(s.deployment), "--study", STUDY,
             "--key", str(keys[name]), "--data", str(tmp_path / "split" / f"hospital-{k}.csv"),
             "--out", str(tmp_path / f"{name}.csv"), "--keys-out", str(tmp_path / f"{name}.keys"),
             "--purposes", "HMB,DS-CANCER", "--rpc", anvil)  # fmt: skip

    narrowed = load_keyring(tmp_path / "h1.keys", PASSWORD)[0]
    patient_key = tmp_path / "patient.key"
    patient_key.write_text("0x" + narrowed.private_key.hex() + "\n")
    patient_key.chmod(0o600)
    withdrawn = _cli("consent", "revoke", "--deployment", str(s.deployment), "--study", STUDY,
                     "--patient-key", str(patient_key), "--relay-key", str(keys["relayer"]),
                     "--purpose", "HMB", "--rpc", anvil)  # fmt: skip
    assert (withdrawn["revoked"], withdrawn["remaining"]) == (["HMB"], ["DS-CANCER"])
    status = _cli("consent", "status", "--deployment", str(s.deployment), "--study", STUDY,
                  "--patient", narrowed.address, "--rpc", anvil)  # fmt: skip
    assert (status["consented"], status["covers_study"], status["study_purpose"]) == (
        False, False, "HMB",
    )  # fmt: skip
    enrolled = {n: s.coordinator.consents.active_consent_count(s.study, address[n])
                for n in ("h1", "h2")}  # fmt: skip

    trainers = [_trainer(s, tmp_path, keys[n], tmp_path / f"{n}.csv") for n in ("h1", "h2")]
    aggregator = _aggregator(s, tmp_path, keys["aggregator"])
    aggregator.start()  # opens round 0
    try:
        for _ in range(50):  # the roles' own poll loop, in turn, in this process
            for trainer, _view in trainers:
                trainer.step()
            aggregator.poll()
            if s.round_state(0) == RoundState.FINALIZED:
                break
        assert s.round_state(0) == RoundState.FINALIZED
        trainers[0][0].write_exclusion_proofs(tmp_path / "proofs")
    finally:
        for _trainer_role, view in trainers:
            view.index.close()

    updates = {u.hospital: u for u in s.coordinator.rounds.get_updates(s.study, 0)}
    h1_rows = (tmp_path / "h1.csv").read_text().splitlines()[1:]
    assert enrolled["h1"] == len(h1_rows) - 1  # the contract never counted the narrowed consent
    assert updates[address["h1"]].num_patients == enrolled["h1"]
    assert updates[address["h2"]].num_patients == enrolled["h2"]
    proof_file = (tmp_path / "proofs" / ("0x" + bytes(s.study).hex()) / address["h1"] / "0"
                  / f"{narrowed.address}.json")  # fmt: skip
    proof = SmtProof.from_json(json.loads(proof_file.read_text())["proof"])
    assert verify_non_membership(updates[address["h1"]].data_root, narrowed.address, proof)

    result = CliRunner().invoke(app, ["audit", "verify", "--deployment", str(s.deployment),
                                      "--study", STUDY, "--ipfs", ipfs_node, "--rpc", anvil,
                                      "--proofs", str(tmp_path / "proofs"), "--json"])  # fmt: skip
    report = json.loads(result.stdout)
    assert result.exit_code == 0, result.output
    assert report["passed"] is True
    uncovered = [c for c in report["checks"]
                 if c["check"] == "exclusion" and c["subject"] == f"uncovered patient "
                 f"{narrowed.address}"]  # fmt: skip
    assert [(c["round"], c["passed"]) for c in uncovered] == [(0, True)]
