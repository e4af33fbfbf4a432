"""A one-hospital study deployed on a dev chain, signed by anvil's well-known dev accounts: the
set-up the enrolment benchmark (`bench/bench_enrolment.py`) and the relayer-restart test share.

Account 0 deploys and coordinates, account 1 is the study's one hospital, account 2 its
aggregator (its seal key is a placeholder: nothing is sealed to it). Dev chains only: the
mnemonic is public.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from eth_account import Account
from eth_account.signers.local import LocalAccount

from chain.connection import Chain, connect
from chain.deploy import Ledger, attach, deploy
from chain.transactions import Sender
from consent.ids import Address, Bytes32, StudyId, parse_address

__all__ = ["DEV_MNEMONIC", "OneHospitalStudy", "dev_account", "one_hospital_study"]

DEV_MNEMONIC: Final = "test test test test test test test test test test test junk"
"""The mnemonic anvil funds its dev accounts from (public: dev chains only)."""


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
