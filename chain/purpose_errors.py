"""Refusals of a relayed purpose withdrawal (`chain.purpose_relay`), in a module of their own so
the relay's wire format (`chain.relay_wire`) can rebuild them without importing the relay."""

from __future__ import annotations

from chain.relay import RelayError
from consent.ids import Address
from consent.purposes import ConsentScope

__all__ = ["ConsentNotActiveError", "PurposesNotGrantedError"]


class ConsentNotActiveError(RelayError, LookupError):
    """The patient's consent is revoked already: no purpose is left to withdraw."""

    def __init__(self, patient: Address) -> None:
        super().__init__(f"the consent of {patient} is already revoked")
        self.patient = patient


class PurposesNotGrantedError(RelayError, ValueError):
    """The request withdraws nothing, or a purpose (or NMDS) the consent does not grant."""

    def __init__(self, purposes: int, granted: ConsentScope | None) -> None:
        named = ", ".join(granted.codes) if granted is not None else "nothing"
        super().__init__(f"purposes mask {purposes:#x} is not a subset of the granted {named}")
        self.purposes = purposes
