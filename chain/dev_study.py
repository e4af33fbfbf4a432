"""A study deployed on a dev chain: the set-up benchmarks and tests share.

`one_hospital_study` signs with anvil's well-known dev accounts (the enrolment benchmark
`bench/bench_enrolment.py` and the relayer-restart test): account 0 deploys and coordinates,
account 1 is the study's one hospital, account 2 its aggregator (its seal key is a placeholder:
nothing is sealed to it). `unlocked_study` sends from the node's own unlocked accounts (anvil's,
or the in-process eth-tester's: the RPC benchmark, the anvil view tests, the unit tests' ledger):
account 0 deploys and coordinates, account 1 aggregates, the hospitals are the accounts asked
for. Dev chains only: the mnemonic is public, and the accounts are the node's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from eth_account import Account
from eth_account.signers.local import LocalAccount

from chain.connection import Chain, connect
from chain.deploy import Ledger, attach, deploy
from chain.manifest import Manifest
from chain.transactions import Sender
from consent.ids import Address, Bytes32, StudyId, parse_address

__all__ = [
    "DEV_MNEMONIC",
    "PLACEHOLDER_SEAL_KEY",
    "OneHospitalStudy",
    "UnlockedStudy",
    "dev_account",
    "one_hospital_study",
    "unlocked_study",
]

DEV_MNEMONIC: Final = "test test test test test test test test test test test junk"
"""The mnemonic anvil funds its dev accounts from (public: dev chains only)."""
PLACEHOLDER_SEAL_KEY: Final = Bytes32(b"\x42" * 32)
"""`unlocked_study`'s aggregator seal key when none is given (nothing is sealed to it)."""


def dev_account(index: int) -> LocalAccount:
    """Anvil's dev account `index` (derived from `DEV_MNEMONIC`)."""
    Account.enable_unaudited_hdwallet_features()
    account: LocalAccount = Account.from_mnemonic(
        DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}"
    )
    return account


@dataclass(frozen=True, slots=True)
class OneHospitalStudy:
    """A fresh deployment with one study of one hospital."""

    chain: Chain
    study: StudyId
    coordinator: Ledger
    """The facades signing as the deployer (admin and coordinator)."""
    hospital: Ledger
    """The facades signing as the hospital."""
    hospital_address: Address


def one_hospital_study(
    rpc: str, study: StudyId, *, metadata_cid: str, seal_key: Bytes32, first_account: int = 0
) -> OneHospitalStudy:
    """Deploy on `rpc`, create `study` (minimum 1 update) and add dev account 1 as its hospital.

    `first_account` shifts the three accounts (deployer, hospital, aggregator: `first_account`
    and the next two), for a caller sharing its anvil with others that use accounts 0-2."""
    chain = connect(rpc)
    coordinator = Sender.from_key(chain, dev_account(first_account).key)
    ledger = attach(chain, deploy(chain, coordinator), coordinator)
    hospital_key = dev_account(first_account + 1).key
    hospital_address = parse_address(dev_account(first_account + 1).address)
    ledger.studies.create_study(
        study,
        aggregator=parse_address(dev_account(first_account + 2).address),
        aggregator_seal_key=seal_key,
        min_updates=1,
        metadata_cid=metadata_cid,
    )
    ledger.studies.add_hospital(study, hospital_address)
    hospital = ledger.with_sender(Sender.from_key(chain, hospital_key))
    return OneHospitalStudy(chain, study, ledger, hospital, hospital_address)


@dataclass(frozen=True, slots=True)
class UnlockedStudy:
    """A fresh deployment with one study, sent from the node's unlocked accounts."""

    manifest: Manifest
    coordinator: Ledger
    """The facades sending as the node's account 0 (admin and coordinator)."""
    accounts: tuple[Address, ...]
    """The node's accounts (0: coordinator, 1: aggregator)."""


def unlocked_study(
    chain: Chain,
    study: StudyId,
    *,
    hospitals: Sequence[int] = (2,),
    seal_key: Bytes32 = PLACEHOLDER_SEAL_KEY,
    metadata_cid: str = "bafkreimetadata",
) -> UnlockedStudy:
    """Deploy on `chain` from its unlocked account 0, create `study` (aggregator account 1, a
    placeholder seal key, minimum 1 update) and add the accounts `hospitals` as its hospitals."""
    accounts = tuple(parse_address(a) for a in chain.w3.eth.accounts)
    coordinator = Sender.unlocked(chain, accounts[0])
    manifest = deploy(chain, coordinator)
    ledger = attach(chain, manifest, coordinator)
    ledger.studies.create_study(
        study,
        aggregator=accounts[1],
        aggregator_seal_key=seal_key,
        min_updates=1,
        metadata_cid=metadata_cid,
    )
    for index in hospitals:
        ledger.studies.add_hospital(study, accounts[index])
    return UnlockedStudy(manifest, ledger, accounts)
