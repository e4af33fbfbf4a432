"""A malicious hospital through the real trainer role (over the in-memory fakes), and the opt-in
that keeps attacks out of every other run."""

from __future__ import annotations

import pytest

from consent.sealing import open_sealed
from fl.attacks import Attack, AttackKind, AttacksDisabledError
from fl.roles.trainer import Trainer
from fl.serialize import bytes_to_state_dict
from tests.unit.fl.roles.conftest import HOSPITALS, World, dataset_for
from tests.unit.fl.roles.fakes import FakeConsent, FakeLedger


def test_an_attack_without_the_opt_in_is_refused(world: World) -> None:
    with pytest.raises(AttacksDisabledError, match="enabled explicitly"):
        Trainer(
            study=world.study,
            ledger=FakeLedger(world.chain, HOSPITALS[0]),
            store=world.store,
            consent=FakeConsent(world.chain),
            dataset=dataset_for(0),
            state_dir=world.tmp / "h0",
            attack=Attack(AttackKind.SIGN_FLIP),
        )


def test_a_malicious_trainer_submits_its_poisoned_update_through_the_role(world: World) -> None:
    world.enrol_all()
    world.aggregator().start()
    honest_trainer = world.trainer(1)
    attacker = Trainer(
        study=world.study,
        ledger=FakeLedger(world.chain, HOSPITALS[0]),
        store=world.store,
        consent=FakeConsent(world.chain),
        dataset=dataset_for(0),
        state_dir=world.tmp / "h0",
        attack=Attack.parse("scaling:50"),
        allow_attacks=True,
    )

    attacker.step()
    honest_trainer.step()

    norms = {}
    for update in world.chain.rounds[0].updates:
        delta = bytes_to_state_dict(
            open_sealed(world.store.get(update.update_cid), world.seal.private_key)
        )
        norms[update.hospital] = float(sum(v.double().pow(2).sum() for v in delta.values()))
    assert norms[HOSPITALS[0]] > 100 * norms[HOSPITALS[1]]
