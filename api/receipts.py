"""Issuing consent receipts (`consent.receipts`) for the transactions this process sent, and
writing them where the patient or hospital keeps them."""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from chain._facade import MissingSenderError
from chain.consent_registry import ConsentRegistry
from consent.events import ConsentEvent
from consent.receipt_signer import ReceiptSigner
from consent.receipts import Signer, build_receipt

__all__ = ["issue_receipt", "receipt_if_signable", "write_record"]


def issue_receipt(
    consents: ConsentRegistry, event: ConsentEvent, signer: ReceiptSigner | None = None
) -> dict[str, Any]:
    """The receipt of `event`, signed by `consents`' sender (the hospital that granted, or the
    relayer that revoked): with `signer` when it holds the sender's key (a cached coincurve
    key, ~0.4 ms instead of eth_account's ~3 ms), else through the sender. Raises
    `MissingSenderError` for a read-only facade."""
    sender = consents.sender
    if sender is None:
        raise MissingSenderError("a receipt is signed by the sender; this facade has none")
    sign: Signer = sender.sign_message
    if signer is not None and signer.address.lower() == sender.address.lower():
        sign = signer
    return build_receipt(
        event,
        consents.domain,
        issuer=sender.address,
        sign=sign,
        issued_at=int(time.time()),
    )


def receipt_if_signable(
    consents: ConsentRegistry, event: ConsentEvent, signer: ReceiptSigner | None = None
) -> dict[str, Any] | None:
    """The receipt of `event` (see `issue_receipt`), or None when the sender's key is held by
    the node (the unlocked dev accounts of eth-tester and the embedded demo): there is no key
    here to sign with."""
    if consents.sender is None or not consents.sender.signs_locally:
        return None
    return issue_receipt(consents, event, signer)


def write_record(path: Path, receipt: dict[str, Any]) -> None:
    """Write a receipt (or a FHIR record) as indented JSON, atomically (temp file + rename), mode
    0600: it names the patient's address."""
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(receipt, handle, indent=2)
            handle.write("\n")
        os.replace(tmp_name, path)
    finally:
        Path(tmp_name).unlink(missing_ok=True)
