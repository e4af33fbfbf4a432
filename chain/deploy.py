"""Deploy the contracts and attach typed facades to an existing deployment."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final

from web3.exceptions import Web3Exception

from chain._facade import revert_decoder
from chain.compile import CONTRACT_NAMES, load_artifact
from chain.connection import Chain, tester_failures
from chain.consent_registry import ConsentRegistry
from chain.contributions import Contributions
from chain.dataset_inventory import DatasetInventory
from chain.errors import ChainIdMismatchError, DeploymentError, NoContractCodeError
from chain.manifest import Manifest
from chain.privacy_budget import PrivacyBudget
from chain.rollbacks import Rollbacks
from chain.round_ledger import RoundLedger
from chain.secagg_coordinator import SecAggCoordinator
from chain.study_registry import StudyRegistry
from chain.transactions import Sender
from consent.ids import Address, parse_address

__all__ = ["Ledger", "attach", "deploy"]

log = logging.getLogger(__name__)

_DEPLOY_GAS: Final = {
    "StudyRegistry": 1_500_000,
    "ConsentRegistry": 4_500_000,
    "PrivacyBudget": 2_000_000,
    "RoundLedger": 2_500_000,
    "SecAggCoordinator": 2_500_000,
    "Contributions": 1_500_000,
    "DatasetInventory": 2_000_000,
    "Rollbacks": 1_500_000,
}


@dataclass(frozen=True, eq=False, slots=True)
class Ledger:
    """The contract facades of one deployment, sharing one chain and one sender (`datasets` is
    None for a deployment made before the dataset inventory existed)."""

    chain: Chain
    manifest: Manifest
    studies: StudyRegistry
    consents: ConsentRegistry
    rounds: RoundLedger
    secagg: SecAggCoordinator | None = None
    """The secagg coordinator, when the deployment has one."""
    budget: PrivacyBudget | None = None
    """The privacy budget of dp-mode studies (None for a deployment that predates it)."""
    contributions: Contributions | None = None
    """None for a deployment made before the Contributions contract (issue 15)."""
    datasets: DatasetInventory | None = None
    rollbacks: Rollbacks | None = None
    """The rollback rounds of `unlearn` studies (None before issue 16)."""

    def with_sender(self, sender: Sender | None) -> Ledger:
        """The same deployment seen by another sender (another role or key)."""
        return attach(self.chain, self.manifest, sender, check=False)


def _deploy_one(chain: Chain, sender: Sender, name: str, *args: str) -> tuple[Address, int]:
    artifact = load_artifact(name)
    factory = chain.w3.eth.contract(abi=list(artifact.abi), bytecode=artifact.bytecode)
    try:
        receipt = sender.transact(factory.constructor(*args), _DEPLOY_GAS[name], revert_decoder())
    except tester_failures(Web3Exception) as exc:
        raise DeploymentError(f"deploying {name} failed: {exc}") from exc
    address = receipt.get("contractAddress")
    if address is None:
        raise DeploymentError(f"deploying {name} produced no contract address")
    log.info("deployed %s at %s", name, address)
    return parse_address(address), int(receipt["blockNumber"])


def deploy(chain: Chain, sender: Sender) -> Manifest:
    """Deploy StudyRegistry, ConsentRegistry, PrivacyBudget, RoundLedger, SecAggCoordinator,
    Contributions, the DatasetInventory that gates admission and Rollbacks; the sender becomes
    the admin and a coordinator. Returns the manifest (write it only once this returned)."""
    studies, first_block = _deploy_one(chain, sender, "StudyRegistry")
    consents, _ = _deploy_one(chain, sender, "ConsentRegistry", studies)
    budget, _ = _deploy_one(chain, sender, "PrivacyBudget", studies)
    rounds, _ = _deploy_one(chain, sender, "RoundLedger", studies, consents, budget)
    secagg, _ = _deploy_one(chain, sender, "SecAggCoordinator", studies, rounds)
    contributions, _ = _deploy_one(chain, sender, "Contributions", studies, rounds)
    inventory, _ = _deploy_one(chain, sender, "DatasetInventory", studies)
    rollbacks, _ = _deploy_one(chain, sender, "Rollbacks", studies, consents, rounds)
    StudyRegistry(chain, studies, sender).set_dataset_inventory(inventory)
    return Manifest(
        chain_id=chain.chain_id,
        study_registry=studies,
        consent_registry=consents,
        round_ledger=rounds,
        secagg_coordinator=secagg,
        privacy_budget=budget,
        deploy_block=first_block,
        deployer=sender.address,
        contributions=contributions,
        artifact_sha256={name: load_artifact(name).sha256 for name in CONTRACT_NAMES},
        dataset_inventory=inventory,
        rollbacks=rollbacks,
    )


def attach(
    chain: Chain, manifest: Manifest, sender: Sender | None = None, *, check: bool = True
) -> Ledger:
    """Facades for the deployment in `manifest`.

    With `check`, verifies the chain id and that code exists at each address (raises
    `ChainIdMismatchError` / `NoContractCodeError`).
    """
    if check:
        if chain.chain_id != manifest.chain_id:
            raise ChainIdMismatchError(manifest.chain_id, chain.chain_id)
        for name, address in manifest.addresses().items():
            if not chain.has_code(address):
                raise NoContractCodeError(name, address)
    return Ledger(
        chain=chain,
        manifest=manifest,
        studies=StudyRegistry(chain, manifest.study_registry, sender),
        consents=ConsentRegistry(chain, manifest.consent_registry, sender),
        rounds=RoundLedger(chain, manifest.round_ledger, sender),
        secagg=(
            SecAggCoordinator(chain, manifest.secagg_coordinator, sender)
            if manifest.secagg_coordinator is not None
            else None
        ),
        budget=None
        if manifest.privacy_budget is None
        else PrivacyBudget(chain, manifest.privacy_budget, sender),
        contributions=(
            None
            if manifest.contributions is None
            else Contributions(chain, manifest.contributions, sender)
        ),
        datasets=(
            None
            if manifest.dataset_inventory is None
            else DatasetInventory(chain, manifest.dataset_inventory, sender)
        ),
        rollbacks=(
            None if manifest.rollbacks is None else Rollbacks(chain, manifest.rollbacks, sender)
        ),
    )
