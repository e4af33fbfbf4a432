"""The EIP-712 domain and struct types patients sign, published so a client never reads Solidity.

Everything comes from `consent.eip712`, the one definition the signing code and the contract's
type hashes are tested against, and the deployment's ConsentRegistry address and chain id.
"""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import ServicesDep
from api.problems import problem_responses
from consent import eip712
from consent.purposes import purpose_bits

__all__ = [
    "EIP712_DOMAIN_TYPE",
    "SIGNED_TYPES",
    "Eip712DomainOut",
    "Eip712Field",
    "Eip712Out",
    "router",
]


class Eip712Field(BaseModel):
    """One member of an EIP-712 struct type."""

    name: str
    type: str


class Eip712DomainOut(BaseModel):
    """The EIP-712 domain patients sign for: the ConsentRegistry on this chain."""

    name: str
    version: str
    chainId: int  # noqa: N815 - the EIP-712 member name
    verifyingContract: str  # noqa: N815 - the EIP-712 member name


class Eip712Out(BaseModel):
    """The domain and struct types of every signature the contracts accept, in the
    `eth_signTypedData_v4` form (`types` includes `EIP712Domain`)."""

    domain: Eip712DomainOut
    types: dict[str, list[Eip712Field]]
    primary_types: list[str] = Field(description="the struct types a patient signs")
    purpose_bits: dict[str, int] = Field(
        default_factory=dict,
        description="the uint64 bit of each DUO code in `purposes` fields (a mask is their OR)",
    )


router = APIRouter(prefix="/v1", tags=["consent"])

SIGNED_TYPES: Final = {
    "Consent": eip712.CONSENT_TYPE,
    "Revocation": eip712.REVOCATION_TYPE,
    "Cancellation": eip712.CANCELLATION_TYPE,
    "PurposeRevocation": eip712.PURPOSE_REVOCATION_TYPE,
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
            "purpose_bits": purpose_bits(),
        }
    )
