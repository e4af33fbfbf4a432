"""The EIP-712 domain and struct types patients sign, published so a client never reads Solidity.

Everything comes from `consent.eip712`, the one definition the signing code and the contract's
type hashes are tested against, and the deployment's ConsentRegistry address and chain id.
"""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter

from api.deps import ServicesDep
from api.problems import problem_responses
from api.schemas import Eip712Out
from consent import eip712

__all__ = ["EIP712_DOMAIN_TYPE", "SIGNED_TYPES", "router"]

router = APIRouter(prefix="/v1", tags=["consent"])

SIGNED_TYPES: Final = {
    "Consent": eip712.CONSENT_TYPE,
    "Revocation": eip712.REVOCATION_TYPE,
    "Cancellation": eip712.CANCELLATION_TYPE,
}
"""The struct types the ConsentRegistry verifies signatures of (a test checks each type hash
against the contract's `*_TYPEHASH` constants, and that the contract has no other)."""
EIP712_DOMAIN_TYPE: Final = eip712._DOMAIN_TYPE
"""The domain struct the signing code encodes (consent.eip712 keeps it private; reused, not
copied, so the two cannot drift)."""


@router.get(
    "/eip712",
    response_model=Eip712Out,
    responses=problem_responses(502, 503),
    summary="The EIP-712 domain and types of consent, revocation and cancellation signatures",
)
def eip712_types(services: ServicesDep) -> Eip712Out:
    """The domain {name, version, chainId, verifyingContract} of this deployment's
    ConsentRegistry and the member types of `Consent`, `Revocation` and `Cancellation`, ready
    for `eth_signTypedData_v4` (`types` includes `EIP712Domain`). The nonce each one signs is in
    `GET .../consent` under `nonces[<primary type>]`."""
    domain = services.ledger.consents.domain
    types = {"EIP712Domain": EIP712_DOMAIN_TYPE, **SIGNED_TYPES}
    return Eip712Out.model_validate(
        {
            "domain": domain.as_dict(),
            "types": {
                name: [{"name": n, "type": t} for n, t in spec] for name, spec in types.items()
            },
            "primary_types": list(SIGNED_TYPES),
        }
    )
