"""The ledger against a real anvil: deploy, attach checks, decoded custom errors, freshness."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from eth_account import Account
from eth_utils import keccak

import consent.errors
from chain.connection import connect
from chain.deploy import Ledger, attach, deploy
from chain.errors import (
    ChainIdMismatchError,
    InvalidSignerError,
    NoContractCodeError,
    NotStudyMemberError,
)
from chain.manifest import Manifest
from chain.round_ledger_errors import StaleConsentError
from chain.transactions import Sender
from consent.eip712 import sign_consent, sign_revocation
from consent.events import ConsentGranted, ConsentRevoked
from consent.ids import Bytes32, parse_address, study_id
from consent.records import UpdateSubmission

pytestmark = pytest.mark.integration

# anvil's well-known dev keys (accounts 0-3 of the default mnemonic)
KEYS = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
]


@pytest.fixture(scope="module")
def deployed(anvil: str) -> tuple[Ledger, Ledger, Ledger]:
    chain = connect(anvil)
    coordinator = attach(chain, deploy(chain, Sender.from_key(chain, KEYS[0])))
    coordinator = coordinator.with_sender(Sender.from_key(chain, KEYS[0]))
    aggregator = coordinator.with_sender(Sender.from_key(chain, KEYS[1]))
    hospital = coordinator.with_sender(Sender.from_key(chain, KEYS[2]))
    study = study_id("anvil-ledger")
    coordinator.studies.create_study(
        study,
        aggregator=parse_address(Account.from_key(KEYS[1]).address),
        aggregator_seal_key=Bytes32(b"\x01" * 32),
        min_updates=1,
        metadata_cid="bafkreimeta",
    )
    coordinator.studies.add_hospital(study, parse_address(Account.from_key(KEYS[2]).address))
    return coordinator, aggregator, hospital


def test_attach_checks_chain_id_and_code(anvil: str, deployed: tuple[Ledger, ...]) -> None:
    chain = connect(anvil)
    manifest = deployed[0].manifest
    assert chain.chain_id == 31337
    with pytest.raises(ChainIdMismatchError):
        attach(chain, dataclasses.replace(manifest, chain_id=1))
    nowhere = parse_address("0x" + "77" * 20)
    with pytest.raises(NoContractCodeError):
        attach(chain, dataclasses.replace(manifest, round_ledger=nowhere))
    assert isinstance(attach(chain, manifest).manifest, Manifest)


def test_grant_revoke_and_stale_update_on_anvil(deployed: tuple[Ledger, Ledger, Ledger]) -> None:
    coordinator, aggregator, hospital = deployed
    study = study_id("anvil-ledger")
    patient = Account.from_key(keccak(text="anvil patient"))
    address = parse_address(patient.address)
    hospital_address = parse_address(Account.from_key(KEYS[2]).address)
    consents = hospital.consents
    assert consents.domain.chain_id == 31337

    deadline = coordinator.chain.block_timestamp() + 3600
    domain = consents.domain
    signature = sign_consent(patient.key, domain, study, address, hospital_address, 0, 0, deadline)
    granted = consents.grant(study, address, 0, deadline, signature)
    assert isinstance(granted, ConsentGranted)
    with pytest.raises(InvalidSignerError):  # replay, decoded from anvil's ContractCustomError
        consents.grant(study, address, 0, deadline, signature)
    other = Account.from_key(keccak(text="anvil patient 2"))
    other_address = parse_address(other.address)
    other_sig = sign_consent(
        other.key, domain, study, other_address, hospital_address, 0, 0, deadline
    )
    consents.grant(study, other_address, 0, deadline, other_sig)
    assert consents.active_consent_count(study, hospital_address) == 2

    aggregator.rounds.open_round(study, 0, Bytes32(b"\x02" * 32), "bafkreibase")
    view_block = coordinator.chain.block_number()
    revocation = sign_revocation(patient.key, consents.domain, study, address, 0, deadline)
    revoked = coordinator.consents.revoke_with_sig(study, address, deadline, revocation)
    assert isinstance(revoked, ConsentRevoked)
    assert not consents.is_consented(study, address)

    update: dict[str, Any] = {
        "update_hash": Bytes32(b"\x03" * 32),
        "update_cid": "bafkreiupdate",
        "num_samples": 5,
        "num_patients": 1,
        "data_root": Bytes32(b"\x04" * 32),
    }
    with pytest.raises(StaleConsentError) as info:
        hospital.rounds.submit_update(
            study, 0, UpdateSubmission(consent_block=view_block, **update)
        )
    assert isinstance(info.value, consent.errors.StaleConsentError)
    assert info.value.last_revocation_block == revoked.position.block_number
    fresh = coordinator.chain.block_number()
    fresh_update = UpdateSubmission(consent_block=fresh, **update)
    submitted = hospital.rounds.submit_update(study, 0, fresh_update)
    assert submitted.consent_block == fresh
    with pytest.raises(NotStudyMemberError):
        coordinator.rounds.submit_update(study, 0, fresh_update)
    events = coordinator.consents.consent_events(granted.position.block_number)
    assert [type(e) for e in events] == [ConsentGranted, ConsentGranted, ConsentRevoked]
