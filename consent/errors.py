"""Domain errors shared across layers.

`chain/` raises subclasses of these (decoded from contract reverts) so that `fl/` can react to them
without importing `chain/`.
"""

from __future__ import annotations

__all__ = ["ConsentError", "StaleConsentError"]


class ConsentError(Exception):
    """Root of consent-domain errors."""


class StaleConsentError(ConsentError, RuntimeError):
    """An update was computed on a consent view older than the hospital's last revocation.

    Attributes:
        consent_block: the block the update's consent view was taken at.
        last_revocation_block: the block of the hospital's latest patient revocation.
    """

    def __init__(self, consent_block: int, last_revocation_block: int) -> None:
        super().__init__(
            f"consent view at block {consent_block} is older than the last revocation "
            f"at block {last_revocation_block}"
        )
        self.consent_block = consent_block
        self.last_revocation_block = last_revocation_block
